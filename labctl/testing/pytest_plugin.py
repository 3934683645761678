"""pytest fixtures for labctl drivers, emulators and benches.  Load them from a
``conftest.py``: ``pytest_plugins = ["labctl.testing.pytest_plugin"]``.

- ``conversation``: :func:`labctl.testing.conversation.expect_conversation`.
- ``documents``: a fresh :class:`~labctl.testing.doubles.DocumentCollector`.
- ``sim_bench_factory``: ``factory(bench_file, **kw)`` -> a simulated bench writing to
  the test's temporary directory, closed (outputs off) after the test.
- ``emulator_factory``: :func:`labctl.testing.benches.make_emulator`.
"""

from __future__ import annotations

import pytest

from labctl.testing.benches import make_emulator, sim_bench
from labctl.testing.conversation import expect_conversation
from labctl.testing.doubles import DocumentCollector


@pytest.fixture
def conversation():
    return expect_conversation


@pytest.fixture
def documents() -> DocumentCollector:
    return DocumentCollector()


@pytest.fixture
def sim_bench_factory(tmp_path):
    benches = []

    def factory(bench_file, **kw):
        bench = sim_bench(bench_file, tmp_path / f"data{len(benches)}", **kw)
        benches.append(bench)
        return bench

    yield factory
    for bench in benches:
        bench.close()


@pytest.fixture
def emulator_factory():
    return make_emulator
