"""Shared test setup: where the examples are, and simulated benches of the example
bench files (fixtures from ``labctl.testing.pytest_plugin`` are loaded too)."""

from pathlib import Path

import pytest

from labctl.testing import sim_bench

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BENCHES = EXAMPLES / "benches"


def example_bench(name: str, data_dir: Path, **kw):
    """A simulated bench of ``examples/benches/<name>`` with ``bench.docs`` collecting
    its documents (close it when done)."""
    return sim_bench(BENCHES / name, data_dir, **kw)


@pytest.fixture
def mouse_bench(tmp_path):
    bench = example_bench("sim-mouse.yaml", tmp_path / "data")
    yield bench
    bench.close()


@pytest.fixture
def vial_bench(tmp_path):
    bench = example_bench("sim-vial.yaml", tmp_path / "data")
    yield bench
    bench.close()
