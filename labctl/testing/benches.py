"""Simulated benches and emulators for tests: a bench file on its simulated twin with
its data in a test's directory, and one emulator of a registered driver in a world."""

from __future__ import annotations

from pathlib import Path

__all__ = ["sim_bench", "make_emulator"]


def sim_bench(bench_file: str | Path, data_dir: str | Path, *, collect: bool = True, **kw):
    """``Bench.from_file(bench_file, mode="sim")`` writing to ``data_dir``; with
    ``collect`` its documents are kept in ``bench.docs`` (a
    :class:`~labctl.testing.doubles.DocumentCollector`).  Close it when done."""
    from labctl.bench import Bench
    from labctl.testing.doubles import DocumentCollector

    bench = Bench.from_file(bench_file, mode="sim", data_dir=data_dir, **kw)
    if collect:
        bench.docs = DocumentCollector()
        bench.RE.subscribe(bench.docs)
    return bench


def make_emulator(driver: str, sample, *, name: str = "dev", clock=None, seed: int = 0, **options):
    """The emulator a registered driver (or import path) names, in a world holding
    ``sample`` (e.g. a :class:`~labctl.testing.doubles.TableSample`) on ``clock`` (a
    lockstep ``SimClock`` by default).  ``options`` go to the emulator's constructor.
    Returns ``(emulator, world)``."""
    from labctl.core.clock import SimClock
    from labctl.kinds.plugins import driver_class, emulator_class
    from labctl.simulators.physics.world import SimWorld

    world = SimWorld(clock or SimClock(start=1_000_000.0), sample, seed=seed)
    cls = emulator_class(driver_class(driver), driver)
    return cls(world, name=name, **options), world
