"""The AMF generator kind: a coil driven at one of its resonant frequencies, its field
known from the coil calibration; energizing, watched by the safety monitor."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from labctl.core.units import Quantity
from labctl.kinds.base import DeviceEntry, Kind, format_info

__all__ = ["AMFEntry", "AMFKind", "KIND"]


class AMFEntry(DeviceEntry):
    """``kind: amf``: ``coil_calibration`` maps each resonant frequency (Hz) to the coil's
    field per coil current (kA/m per A)."""

    fault_kinds: ClassVar[tuple[str, ...]] = ("coolant_loss", "generator_trip")

    driver: str = "ambrell_easyheat"
    coil_calibration: dict[Quantity("Hz", gt=0, le=1e7), Quantity("kA/m/A", gt=0, le=10)] = Field(
        ..., description="frequency (Hz) -> field per coil current (kA/m per A)"
    )


class AMFKind(Kind):
    name = "amf"
    entry = AMFEntry
    device = "labctl.devices.amf:AMFGenerator"
    energizes = True

    def device_options(self, name, entry: AMFEntry, bench) -> dict:
        return {"coil_calibration": dict(entry.coil_calibration)}

    def emulator_options(self, name, entry: AMFEntry, sample) -> dict:
        return {"coil_calibration": dict(entry.coil_calibration)}

    def describe(self, driver, entry: AMFEntry) -> list[str]:
        st = driver.status()
        faults = ", ".join(st.faults.names) or "none"
        lines = []
        identity = getattr(driver, "identity", None)
        if callable(identity):
            lines.append("identity: " + format_info(identity()))
        lines.append(
            f"status: heating {'ON' if st.heating else 'off'}, setpoint "
            f"{st.setpoint_A:.1f} A, current {st.current_A:.1f} A, power "
            f"{st.power_W:.0f} W, frequency {st.frequency_Hz / 1e3:.1f} kHz"
        )
        tripped = "  (interlock tripped)" if st.interlock_tripped else ""
        lines.append(f"faults: {faults}{tripped}")
        return lines

    def watch(self, device, limits, margin: float):
        from labctl.safety.watches import AMFWatch

        return AMFWatch(device, limits, margin)


KIND = AMFKind()
