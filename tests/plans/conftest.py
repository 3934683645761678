from pathlib import Path

import numpy as np
import pytest

from labctl.bench import Bench

BENCHES = Path(__file__).resolve().parents[2] / "examples" / "benches"


class Documents:
    """Every document the RunEngine emitted, with helpers to pull out event columns."""

    def __init__(self):
        self.docs = []

    def __call__(self, name, doc):
        self.docs.append((name, doc))

    def of(self, name):
        return [d for n, d in self.docs if n == name]

    def stream(self, stream="primary"):
        uids = {d["uid"] for d in self.of("descriptor") if d["name"] == stream}
        return [d for d in self.of("event") if d["descriptor"] in uids]

    def column(self, key, stream="primary"):
        events = self.stream(stream)
        values = np.array([e["data"][key] for e in events])
        times = np.array([e["timestamps"][key] for e in events])
        return times, values


def _bench(name, tmp_path):
    bench = Bench.from_file(BENCHES / name, data_dir=tmp_path / "data")
    docs = Documents()
    bench.RE.subscribe(docs)
    bench.docs = docs
    return bench


@pytest.fixture
def mouse_bench(tmp_path):
    bench = _bench("sim-mouse.yaml", tmp_path)
    yield bench
    bench.close()


@pytest.fixture
def vial_bench(tmp_path):
    bench = _bench("sim-vial.yaml", tmp_path)
    yield bench
    bench.close()
