"""CNI MDL-III laser controller (e.g. an 808 nm CW diode): binary frame driver.

Frames, from the Controlled PTT project's driver of this controller (9600 baud)::

    55 AA 03 01 04            output on
    55 AA 03 00 03            output off
    55 AA 05 03 <hi> <lo> <cs>  set power, mW as 16 bits big-endian

After the header ``55 AA`` comes a length byte counting itself, the payload and the
checksum; the checksum is the low byte of the sum of the length byte and the payload.
The controller needs a pause (10 ms) after switching on before a power command takes
effect, so :meth:`CNIMDL3.laser_on` waits that long (clock time) and sends the power
again.  The power sent is in the controller's own calibration, ``I = 0.28916859 A +
0.00105531 A/mW * P`` (the factory curve of that driver); this driver takes a diode
current and converts it with that curve, 0-2300 mW.

The controller has no queries: the link reports no current, power, temperature or
protection state, so what this driver reports is what it commanded (``measure_*`` and
``trips()`` say so in their docstrings).  The bytes it sends back are undocumented
(the reference client only logs them as they come, asynchronously); *modeled*: the
controller echoes each frame it accepts.  With ``acknowledge`` true (default) the
driver waits up to ``ack_timeout_s`` for that echo, so a controller that stops
answering is noticed; other bytes are kept in ``unsolicited``.
"""

from __future__ import annotations

import math
from collections import deque

from pydantic import BaseModel, ConfigDict, Field

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import InstrumentError, LimitError, TransportError
from labctl.core.transport import Transport

__all__ = ["CNIMDL3", "CNIOptions", "frame", "ON_FRAME", "OFF_FRAME", "power_frame"]

HEADER = b"\x55\xaa"
SWITCH_ON_PAUSE_S = 0.010  #: wait after "on" before a power command takes effect
INTERNAL_INTERCEPT_A = 0.28916859  #: controller calibration: I = a + b P
INTERNAL_SLOPE_A_PER_MW = 0.00105531
MAX_POWER_MW = 2300


def frame(payload: bytes) -> bytes:
    """``55 AA <len> <payload> <cs>``: len counts itself, payload and checksum."""
    length = len(payload) + 2
    checksum = (length + sum(payload)) & 0xFF
    return HEADER + bytes([length]) + payload + bytes([checksum])


ON_FRAME = frame(b"\x01")
OFF_FRAME = frame(b"\x00")


def power_frame(power_mW: int) -> bytes:
    """Set-power frame for ``power_mW`` (0..65535)."""
    return frame(bytes([0x03]) + int(power_mW).to_bytes(2, "big"))


class CNIOptions(BaseModel):
    """Bench-file keys of a CNI MDL-III entry besides the laser kind's own."""

    model_config = ConfigDict(extra="forbid")

    max_power_mW: float = Field(MAX_POWER_MW, gt=0, le=MAX_POWER_MW)  #: power ceiling, mW
    acknowledge: bool = True  #: wait for the controller's echo of each frame
    ack_timeout_s: float = Field(0.2, gt=0)


class CNIMDL3:
    """A CNI MDL-III controller behind ``transport`` (9600 8N1)."""

    kind = "laser"
    wire = "serial"
    emulator = "cni_mdl3"
    Options = CNIOptions

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Clock | None = None,
        max_power_mW: float = MAX_POWER_MW,
        acknowledge: bool = True,
        ack_timeout_s: float = 0.2,
    ) -> None:
        opts = CNIOptions(
            max_power_mW=max_power_mW, acknowledge=acknowledge, ack_timeout_s=ack_timeout_s
        )
        self.transport = transport
        self.clock = clock if clock is not None else WallClock()
        self.max_power_mW = opts.max_power_mW
        self.acknowledge = opts.acknowledge
        self.ack_timeout_s = opts.ack_timeout_s
        self.unsolicited: deque[bytes] = deque(maxlen=100)  #: bytes that were no echo
        self._rx = bytearray()
        self._current_A = 0.0
        self._power_mW = 0
        self._emission = False

    def __repr__(self) -> str:
        return f"<CNIMDL3 at {self.transport.address}>"

    def identity(self) -> dict[str, str]:
        """No identity query exists: the model and the link."""
        return {"Model": "CNI MDL-III", "Link": self.transport.address}

    identify = identity  #: the name the laser kind asks for

    # -- calibration ---------------------------------------------------------------------
    @staticmethod
    def power_mW_for_current(current_A: float) -> float:
        """Controller power (mW) that makes it drive ``current_A``."""
        return (current_A - INTERNAL_INTERCEPT_A) / INTERNAL_SLOPE_A_PER_MW

    @staticmethod
    def current_for_power_mW(power_mW: float) -> float:
        """Diode current (A) the controller drives for ``power_mW`` (0 mW -> 0 A)."""
        return 0.0 if power_mW <= 0 else INTERNAL_INTERCEPT_A + INTERNAL_SLOPE_A_PER_MW * power_mW

    # -- LaserDriver -----------------------------------------------------------------------
    def laser_on(self) -> None:
        """On, the 10 ms pause, then the power setpoint again (it is ignored before)."""
        self._send(ON_FRAME)
        self._emission = True
        self.clock.sleep(SWITCH_ON_PAUSE_S)
        self._send(power_frame(self._power_mW))

    def laser_off(self) -> None:
        self._send(OFF_FRAME)
        self._emission = False

    def shutdown(self) -> None:
        """Output off (the controller's TEC is not on the link)."""
        self.laser_off()

    def select_constant_current(self) -> None:
        """The controller always regulates current: nothing to send."""

    def set_current_A(self, current_A: float) -> None:
        """Diode current, A, sent as the controller's power (mW, rounded down)."""
        if isinstance(current_A, bool) or not math.isfinite(current_A) or current_A < 0:
            raise LimitError(f"{self.transport.address}: current must be finite and >= 0")
        power = 0 if current_A <= INTERNAL_INTERCEPT_A else self.power_mW_for_current(current_A)
        if power > self.max_power_mW + 1e-9:
            raise LimitError(
                f"{self.transport.address}: {current_A:g} A needs {power:.0f} mW, above the "
                f"{self.max_power_mW:g} mW ceiling; nothing was sent"
            )
        self._send(power_frame(int(power)))
        self._power_mW = int(power)
        self._current_A = float(current_A)

    def get_current_A(self) -> float:
        """Current setpoint as commanded, A."""
        return self._current_A

    def get_emission(self) -> bool:
        """Output state as commanded."""
        return self._emission

    def measure_current_A(self) -> float:
        """Not measured: the commanded current while on, else 0 A."""
        return self.current_for_power_mW(self._power_mW) if self._emission else 0.0

    def measure_power_W(self) -> float:
        """Not measured: the controller's power setpoint while on, else 0 W."""
        return self._power_mW / 1e3 if self._emission else 0.0

    def get_tec_temperature_C(self) -> float:
        """Not on the link: NaN."""
        return math.nan

    def get_tec_setpoint_C(self) -> float:
        """Not on the link: NaN."""
        return math.nan

    def set_tec_setpoint_C(self, value_C: float) -> None:
        raise InstrumentError(
            f"{self.transport.address}: the MDL-III's TEC is set on the controller, not the link"
        )

    def trips(self) -> dict[str, bool]:
        """Not reported by the link: all False (the controller's own protections act)."""
        return {"interlock": False, "keylock": False, "overtemperature": False}

    def read_status(self) -> dict[str, float | bool]:
        """What the driver commanded (see the module docstring)."""
        return {
            "power_W": self.measure_power_W(),
            "current_setpoint_A": self._current_A,
            "current_A": self.measure_current_A(),
            "tec_temperature_C": math.nan,
            "emission": self._emission,
            **self.trips(),
        }

    # -- link --------------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        """Write one frame; with ``acknowledge``, wait for its echo (clock time)."""
        with self.transport.lock:
            self.transport.write(data)
            if not self.acknowledge:
                return
            deadline = self.clock.now() + self.ack_timeout_s
            while True:
                chunk = self.transport.read_some(0.01)
                self._rx += chunk
                idx = self._rx.find(data)
                if idx >= 0:
                    if idx:
                        self.unsolicited.append(bytes(self._rx[:idx]))
                    del self._rx[: idx + len(data)]
                    return
                if chunk:
                    continue
                if self.clock.now() >= deadline or not self.transport.waits_for_bytes:
                    break
                self.clock.sleep(0.005)
            got, self._rx = bytes(self._rx), bytearray()
        raise TransportError(
            f"CNI MDL-III at {self.transport.address}: no echo of {data.hex(' ')} within "
            f"{self.ack_timeout_s:g} s (received {got.hex(' ') or 'nothing'})"
        )
