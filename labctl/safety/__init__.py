"""Safety during a run: the monitor, its watches, and its RunEngine integration.

- :mod:`labctl.safety.watches`: what is checked (probe limits, stale and stuck readings,
  each energizer's status and readbacks) and the :class:`Trip` record.
- :mod:`labctl.safety.monitor`: :class:`SafetyMonitor`, the watchdog that switches
  outputs off through the drivers.
- :mod:`labctl.safety.run_engine`: the plan wrapper and sleep handler that arm it.
- :mod:`labctl.safety.signals`: outputs off and the run aborted on SIGTERM and SIGHUP.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = ["SafetyMonitor", "Trip", "TRIP_KINDS"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "SafetyMonitor": "labctl.safety.monitor",
        "TRIP_KINDS": "labctl.safety.monitor",
        "Trip": "labctl.safety.watches",
    },
)
