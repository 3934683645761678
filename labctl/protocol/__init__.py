"""Protocols: a YAML file of plan steps run on a bench, and the progress display.

- :mod:`labctl.protocol.runner`: load, validate and run a protocol file.
- :mod:`labctl.protocol.progress`: what ``labctl run`` prints while a plan runs.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__all__ = ["load_protocol", "run_protocol", "validate_file"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "load_protocol": "labctl.protocol.runner",
        "run_protocol": "labctl.protocol.runner",
        "validate_file": "labctl.protocol.runner",
    },
)
