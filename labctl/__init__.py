"""labctl: instrument control and acquisition for preclinical thermal therapy and imaging.

What a script needs, imported on first use::

    from labctl import Bench, Catalog, read_run
    with Bench.from_file("bench.yaml", mode="sim") as bench:
        bench.RE(plan)
    run = read_run(bench.last_run_path)

Device kinds are in :mod:`labctl.devices`, plans in :mod:`labctl.plans`, the simulated
bench in :mod:`labctl.simulators`, driver test tools in :mod:`labctl.testing`.
"""

from __future__ import annotations

from labctl._lazy import lazy_exports

__version__ = "0.2.0"

__all__ = [
    "__version__",
    "Bench",
    "Catalog",
    "Run",
    "read_run",
    "recover",
    "LabctlError",
    "ConfigError",
    "TransportError",
    "InstrumentError",
    "InterlockError",
    "LimitError",
    "SafetyTrip",
    "DataError",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Bench": "labctl.bench.bench",
        "Catalog": "labctl.data.catalog",
        "Run": "labctl.data.reader",
        "read_run": "labctl.data.reader",
        "recover": "labctl.data.recover",
        **{
            name: "labctl.core.errors"
            for name in (
                "LabctlError",
                "ConfigError",
                "TransportError",
                "InstrumentError",
                "InterlockError",
                "LimitError",
                "SafetyTrip",
                "DataError",
            )
        },
    },
)
