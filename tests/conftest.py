"""Shared test setup: where the examples are, simulated benches of the example bench
files (fixtures from ``labctl.testing.pytest_plugin`` are loaded too), and the example
plugin package installed once per session."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from labctl.testing import sim_bench

pytest_plugins = ["labctl.testing.pytest_plugin"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
BENCHES = EXAMPLES / "benches"
PLUGIN = EXAMPLES / "plugin"


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


@pytest.fixture(scope="session")
def osensa_plugin() -> Path:
    """``examples/plugin`` installed into this environment (once per session).

    Its dependencies come with labctl's ``test`` extra, so it installs without them and
    without an isolated build.  Entry points are looked up afresh afterwards.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         str(PLUGIN)],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.fail(f"installing {PLUGIN.name} failed:\n{proc.stdout}\n{proc.stderr}")
    importlib.invalidate_caches()
    from labctl.kinds.plugins import registered

    registered.cache_clear()
    return PLUGIN


#: the clocks device tests run on: lockstep (simulation's default) and realtime, fast
DEVICE_CLOCKS = {"lockstep": {}, "realtime": {"speed": 1000.0}}


@pytest.fixture(params=sorted(DEVICE_CLOCKS))
def clock_factory(request):
    """Makes the bench clock of a device test, once per clock kind: the device layer takes
    one code path on both (a realtime clock paces like hardware, fast)."""
    from labctl.core.clock import SimClock

    def make(start: float = 0.0) -> SimClock:
        return SimClock(request.param, start=start, **DEVICE_CLOCKS[request.param])

    make.mode = request.param
    return make


@pytest.fixture(autouse=True)
def _catalog_location(tmp_path_factory, monkeypatch):
    """Every test keeps the catalog location file (labctl.data.locations) in its own tmp."""
    path = tmp_path_factory.mktemp("catalog") / "catalog.json"
    monkeypatch.setenv("LABCTL_CATALOG", str(path))
    return path
