"""Thermometer throughput: ``t`` queries per second through the driver and the emulator.

Run ``python benchmarks/bench_thermometer.py``.  Targets: >= 5,000 queries/s in process
(``sim://``), >= 1,000/s over loopback TCP (``labctl sim serve``).

``queries_per_second(driver, ...)`` does not care which transport the driver holds, so a
TCP case only has to build the driver (``make_emulator`` gives the emulator to serve).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from labctl.core.clock import Clock, SimClock
from labctl.core.transport import open_transport
from labctl.devices.drivers.neoptix_reflex import NeoptixReflex
from labctl.simulators.instruments.neoptix_reflex import NeoptixReflexEmulator
from labctl.simulators.physics.probes import FiberProbe
from labctl.simulators.physics.sample import make_sample
from labctl.simulators.physics.world import SimWorld

TARGET_INPROCESS = 5_000.0  #: t queries/s through sim://
TARGET_TCP = 1_000.0  #: t queries/s through labctl sim serve (loopback TCP)


def make_emulator(clock: Clock, *, name: str = "thermo", seed: int = 0) -> NeoptixReflexEmulator:
    """A 4-channel ReFlex emulator with four probes in a vial sample."""
    world = SimWorld(clock, make_sample("vial"), seed=seed)
    positions = {1: "sample", 2: "sample", 3: "ambient", 4: "reference"}
    probes = {ch: FiberProbe(pos) for ch, pos in positions.items()}
    return NeoptixReflexEmulator(world, name=name, probes=probes)


def queries_per_second(
    driver: NeoptixReflex, *, n: int = 20_000, step: Callable[[], object] | None = None
) -> float:
    """Time ``n`` ``t`` queries (``driver.read_all()``); ``step()`` runs before each."""
    for _ in range(min(n, 200)):  # warm up
        driver.read_all()
    t0 = time.perf_counter()
    if step is None:
        for _ in range(n):
            driver.read_all()
    else:
        for _ in range(n):
            step()
            driver.read_all()
    return n / (time.perf_counter() - t0)


def bench_inprocess(n: int = 20_000) -> dict[str, float]:
    """In-process (``sim://``, lockstep clock) rates, queries/s.

    ``frozen``: the clock stands still, so the instrument answers from its last scan
    (protocol path only).  ``advancing``: 50 ms of virtual time per query, so every query
    takes fresh probe readings and integrates the vial (full emulator/world/probe path).
    """
    clock = SimClock(mode="lockstep", start=0.0)
    emulator = make_emulator(clock)
    transport = open_transport("sim://thermo", sims={"thermo": emulator})
    driver = NeoptixReflex(transport, clock=clock)
    return {
        "frozen": queries_per_second(driver, n=n),
        "advancing": queries_per_second(driver, n=n, step=lambda: clock.advance(0.05)),
    }


def bench_tcp(n: int = 5_000) -> float:
    """``labctl sim serve`` in its own process, reached through pyserial ``socket://``."""
    import json
    import signal
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    bench_file = Path(__file__).resolve().parents[1] / "examples" / "benches" / "sim-mouse.yaml"
    with tempfile.TemporaryDirectory() as tmp:
        ports = Path(tmp) / "ports.json"
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labctl",
                "sim",
                "serve",
                "--bench",
                str(bench_file),
                "--ports-file",
                str(ports),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not ports.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("labctl sim serve did not start")
                time.sleep(0.05)
            address = json.loads(ports.read_text())["thermo"]
            with open_transport(address, timeout=2.0) as transport:
                driver = NeoptixReflex(transport)
                return queries_per_second(driver, n=n)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)


def main() -> None:
    for case, rate in bench_inprocess().items():
        print(
            f"in-process t queries ({case:9s}): {rate:10,.0f}/s   "
            f"ratio to target {TARGET_INPROCESS:,.0f}/s: {rate / TARGET_INPROCESS:5.1f}"
        )
    rate = bench_tcp()
    print(
        f"TCP t queries (sim serve)      : {rate:10,.0f}/s   "
        f"ratio to target {TARGET_TCP:,.0f}/s: {rate / TARGET_TCP:5.1f}"
    )


if __name__ == "__main__":
    main()
