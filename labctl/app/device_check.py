"""``labctl devices`` and the shell's ``status()``: each device's identity and status,
queried as its kind describes (nothing is set).  Each device is reached on its own, so
one dead link does not hide the rest."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from labctl.bench.connect import connect_driver, describe_address
from labctl.core.errors import LabctlError
from labctl.kinds import get_kind

__all__ = ["check_devices", "describe_device"]


def describe_device(entry, driver) -> list[str]:
    """Identity and status lines of a connected driver (queries only)."""
    return get_kind(entry.kind).describe(driver, entry)


def check_devices(config) -> Iterator[tuple[str, bool, list[str]]]:
    """Connect to each device of a bench config in turn: ``(name, ok, lines)``.

    The first line says which device, where and whether it answered; the others are
    its identity and status (or the error, and what to check).
    """
    from labctl.core.clock import SimClock, WallClock

    clock = SimClock("lockstep") if config.mode == "sim" else WallClock()
    twin = None
    if config.mode == "sim":
        from labctl.bench.twin import build_sim_twin

        twin = build_sim_twin(config, clock)
    for name, entry in config.devices.items():
        yield name, *_check_one(name, entry, config, clock, twin)


def _check_one(name, entry, config, clock, twin) -> tuple[bool, list[str]]:
    head = f"{name} ({entry.kind}, {entry.driver})"
    address, driver, transport = "?", None, None
    try:
        address = describe_address(name, entry, config, twin)
        driver, transport = connect_driver(name, entry, config, clock, twin)
        return True, [f"{head} at {address}: ok", *describe_device(entry, driver)]
    except (LabctlError, OSError, ValueError, ImportError) as exc:
        hint = (
            "check the cable, power and address in the bench file, or use --sim"
            if config.mode == "real"
            else "check the device's sim options"
        )
        return False, [f"{head} at {address}: FAILED", f"{type(exc).__name__}: {exc}", hint]
    finally:
        # close transports and real cameras (a twin's cameras belong to the twin)
        closing = transport if transport is not None else (driver if twin is None else None)
        if closing is not None:
            with contextlib.suppress(LabctlError):
                closing.close()
