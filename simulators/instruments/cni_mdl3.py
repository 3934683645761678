"""Emulator of a CNI MDL-III laser controller and its diode (binary frames).

Frames as in ``labctl.devices.drivers.cni_mdl3``: ``55 AA <len> <payload> <cs>``, the
length counting itself, the payload and the checksum (low byte of the sum of length
and payload); payload ``01`` on, ``00`` off, ``03 <hi> <lo>`` power in mW.  A frame
with a bad checksum or an unknown payload is dropped; bytes before a header are
skipped.

*Modeled*: each accepted frame is echoed back; a power command that arrives less than
10 ms (clock time) after switching on is ignored, as the reference client's comment
says ("without sleep the set power command will not do anything"); power above the
ceiling (``max_power_mW``, 2300) is clamped.  The controller drives the diode current
``I = 0.28916859 + 0.00105531 * P`` A (its factory curve), limited to
``current_limit_A``; the diode emits ``slope_W_per_A * (I - threshold_A)`` onto the
spot (the bench's P-I calibration), handed to ``world.set_laser``.
Test hooks: ``silent`` (the controller stops answering and acting), ``emission``,
``power_mW``.
"""

from __future__ import annotations

import math

from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.physics.world import SimWorld

__all__ = ["CNIMDL3Emulator"]

HEADER = b"\x55\xaa"
SWITCH_ON_PAUSE_S = 0.010
INTERCEPT_A, SLOPE_A_PER_MW = 0.28916859, 0.00105531
MAX_POWER_MW = 2300


class CNIMDL3Emulator(LineEmulator):
    """A controller and diode lighting the sample of ``world``."""

    def __init__(
        self,
        world: SimWorld,
        *,
        name: str,
        wavelength_nm: float,
        spot_diameter_mm: float,
        slope_W_per_A: float,
        threshold_A: float,
        current_limit_A: float,
        max_power_mW: float = MAX_POWER_MW,
    ) -> None:
        super().__init__(world, name=name)
        self.wavelength_nm = float(wavelength_nm)
        self.spot_area_cm2 = math.pi * (float(spot_diameter_mm) / 20.0) ** 2
        self.slope_W_per_A = float(slope_W_per_A)
        self.threshold_A = float(threshold_A)
        self.current_limit_A = float(current_limit_A)
        self.max_power_mW = min(float(max_power_mW), MAX_POWER_MW)
        self.emission = False
        self.power_mW = 0
        self.silent = False
        self._on_at = -math.inf
        self._frames = bytearray()

    def current_A(self) -> float:
        """Diode current now, A."""
        if not self.emission or self.power_mW <= 0:
            return 0.0
        return min(INTERCEPT_A + SLOPE_A_PER_MW * self.power_mW, self.current_limit_A)

    def optical_power_W(self) -> float:
        """Optical power onto the spot now, W."""
        return self.slope_W_per_A * max(self.current_A() - self.threshold_A, 0.0)

    def receive(self, data: bytes) -> None:
        """Bytes from the host: act on (and echo) every complete valid frame."""
        with self.lock:
            if self.silent:
                return
            self._frames.extend(data)
            while True:
                start = self._frames.find(HEADER)
                if start < 0:
                    del self._frames[: max(0, len(self._frames) - 1)]  # keep a lone 0x55
                    return
                del self._frames[:start]
                if len(self._frames) < 3 or len(self._frames) < 2 + self._frames[2]:
                    return
                end = 2 + self._frames[2]
                body = bytes(self._frames[2:end])
                del self._frames[:end]
                if len(body) >= 2 and (sum(body[:-1]) & 0xFF) == body[-1]:
                    self._act(body[1:-1], HEADER + body)

    def _act(self, payload: bytes, raw: bytes) -> None:
        if payload == b"\x01":
            if not self.emission:
                self._on_at = self.now()
            self.emission = True
        elif payload == b"\x00":
            self.emission = False
        elif len(payload) == 3 and payload[0] == 0x03:
            if self.emission and self.now() - self._on_at < SWITCH_ON_PAUSE_S - 1e-9:
                self.emit(raw)  # echoed, but too early to take effect
                return
            self.power_mW = min(int.from_bytes(payload[1:], "big"), int(self.max_power_mW))
        else:
            return
        self.emit(raw)
        self.world.set_laser(self.optical_power_W(), self.wavelength_nm, self.spot_area_cm2)

    def close_connection(self) -> None:
        with self.lock:
            self._frames.clear()
        super().close_connection()

    def handle(self, line: str) -> None:
        """Not line based: :meth:`receive` frames the bytes."""
        raise NotImplementedError
