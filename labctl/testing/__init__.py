"""Tools for testing drivers, emulators and benches, installed with labctl.

- :mod:`labctl.testing.conversation`: conversation tables for drivers
  (:func:`expected_protocol`).
- :mod:`labctl.testing.doubles`: a sample whose temperatures a test sets
  (:class:`TableSample`) and a document collector (:class:`DocumentCollector`).
- :mod:`labctl.testing.benches`: simulated benches and single emulators for tests.
- :mod:`labctl.testing.pytest_plugin`: the same as pytest fixtures (``pytest_plugins =
  ["labctl.testing.pytest_plugin"]`` in a ``conftest.py``).
- :mod:`labctl.testing.fault_matrix`: every fault against every plan on the simulated
  bench, checking that outputs end off and no data is lost.
- :mod:`labctl.testing.pty_bridge`: a pseudo-terminal bridged to an emulator or a
  socket, for clients that open a serial port by its path.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = [
    "expected_protocol",
    "expect_conversation",
    "ConversationError",
    "TableSample",
    "DocumentCollector",
    "sim_bench",
    "make_emulator",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "expected_protocol": "labctl.testing.conversation",
        "expect_conversation": "labctl.testing.conversation",
        "ConversationError": "labctl.testing.conversation",
        "TableSample": "labctl.testing.doubles",
        "DocumentCollector": "labctl.testing.doubles",
        "sim_bench": "labctl.testing.benches",
        "make_emulator": "labctl.testing.benches",
    },
)
