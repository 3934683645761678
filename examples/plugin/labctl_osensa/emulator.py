"""Emulator of an OSENSA FTX transmitter: its Modbus RTU register map over the sample.

The register map is :mod:`labctl_osensa.registers`; frames are parsed and built with
pymodbus's RTU framer (CRC checked on every request; a frame with a bad CRC, or
addressed to another slave, gets no reply, as on an RS-485 line).  Function 3 (and 4)
reads any register of the map; a read outside it gets exception 2 (illegal data
address); writes (functions 6 and 16) get exception 1, since the security unlock they
need is not emulated.

Each channel reads its probe (``labctl.simulators.physics.probes.FiberProbe``: lag,
noise, faults) at most once per ``UPDATE_S``.  *Modeled, not documented*:

- status 0 with a valid reading, 1 (no signal) when the channel has no probe or its
  probe is broken (no light back), 2 outside the measuring range 0..250 C;
- phosphor decay time from thermal quenching,
  ``tau(T) = TAU_RAD_US / (1 + QUENCH_RATIO * exp(-E/k (1/T - 1/T25)))``: 2333 us at
  25 C, shorter when hotter; light level ``LIGHT_FULL * tau / TAU_RAD_US`` counts
  (``NO_SIGNAL_LIGHT`` without light back); LED current 25 mA;
- PCB temperature warming from 25 C to 33 C with a 20 min time constant.
"""

from __future__ import annotations

import math

from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ExceptionResponse
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from labctl.core.errors import ConfigError
from labctl.simulators.instruments.base import LineEmulator
from labctl.simulators.physics.world import SimWorld
from labctl_osensa import registers as reg

__all__ = ["OsensaFTXEmulator", "decay_time_us", "UPDATE_S"]

UPDATE_S = 0.1  #: time between two measurements of a channel, s (modeled)
RANGE_C = (0.0, 250.0)  #: measuring range, C (modeled; fast registers hold no negatives)
TAU_RAD_US = 3500.0  #: decay time without thermal quenching, us (modeled)
QUENCH_RATIO = 0.5  #: quenching rate / radiative rate at 25 C (modeled)
ACTIVATION_EV = 0.45  #: activation energy of the quenching, eV (modeled)
LIGHT_FULL = 3000  #: light level without quenching, counts (modeled)
NO_SIGNAL_LIGHT = 12  #: light level with no light back, counts (modeled)
LED_CURRENT_MA = 25  #: LED drive current, mA (modeled)
PCB_START_C, PCB_END_C, PCB_TAU_S = 25.0, 33.0, 1200.0
_KB_EV = 8.617333262e-5  # Boltzmann constant, eV/K
_ILLEGAL_FUNCTION, _ILLEGAL_ADDRESS = 1, 2


def decay_time_us(temperature_C: float) -> float:
    """Phosphor decay time at ``temperature_C`` (modeled thermal quenching), us."""
    inv = 1.0 / (temperature_C + 273.15) - 1.0 / 298.15
    return TAU_RAD_US / (1.0 + QUENCH_RATIO * math.exp(-ACTIVATION_EV / _KB_EV * inv))


class _Channel:
    __slots__ = ("probe", "last_t", "temperature_C", "status")

    def __init__(self, probe) -> None:
        self.probe = probe
        self.last_t = -math.inf
        self.temperature_C = 0.0
        self.status = reg.STATUS_NO_SIGNAL


class OsensaFTXEmulator(LineEmulator):
    """An FTX transmitter with ``transmitter_channels`` channels reading ``probes``
    (``{channel: FiberProbe}``) in ``world``; answers as slave ``slave_id``.

    State for tests: ``channel_data(ch)`` (the block as numbers), ``serial``.
    """

    def __init__(
        self,
        world: SimWorld,
        *,
        name: str,
        probes: dict,
        transmitter_channels: int = 3,
        slave_id: int | None = None,
        serial: int = 21040001,
        device_id: int = 1,
    ) -> None:
        super().__init__(world, name=name)
        if transmitter_channels not in (1, 3, 6):
            raise ConfigError(f"{name}: transmitter_channels must be 1, 3 or 6")
        bad = [ch for ch in probes if ch not in range(1, transmitter_channels + 1)]
        if bad:
            raise ConfigError(f"{name}: probe channels {bad} not in 1..{transmitter_channels}")
        if slave_id is None:
            slave_id = reg.SLAVE_SINGLE if transmitter_channels == 1 else reg.SLAVE_TRIPLE
        self.channels = transmitter_channels
        self.slave_id = int(slave_id)
        self.serial = int(serial)
        self.device_id = int(device_id)
        self._ch = {ch: _Channel(probes.get(ch)) for ch in range(1, transmitter_channels + 1)}
        self._framer = FramerRTU(DecodePDU(True))
        self._frame = bytearray()  # bytes of a request still arriving
        self._t0 = self.now()

    @property
    def probes(self) -> dict:
        """``{channel: probe}`` of the channels that have one (fault injection)."""
        return {ch: c.probe for ch, c in self._ch.items() if c.probe is not None}

    # -- measurement ------------------------------------------------------------------
    def _measure(self, channel: int) -> _Channel:
        ch = self._ch[channel]
        now = self.now()
        if now - ch.last_t < UPDATE_S - 1e-9:  # 1e-9 absorbs clock rounding
            return ch
        ch.last_t = now
        value = ch.probe.read(self.world) if ch.probe is not None else None
        if value is None:
            ch.status = reg.STATUS_NO_SIGNAL
        elif not RANGE_C[0] <= value <= RANGE_C[1]:
            ch.status, ch.temperature_C = reg.STATUS_OUT_OF_RANGE, value
        else:
            ch.status, ch.temperature_C = reg.STATUS_OK, value
        return ch

    def channel_data(self, channel: int) -> dict[str, float]:
        """The channel's current block as numbers (temperature C, decay us, ...)."""
        ch = self._measure(channel)
        if ch.status == reg.STATUS_NO_SIGNAL:
            return {"temperature_C": 0.0, "decay_us": 0.0, "light": NO_SIGNAL_LIGHT,
                    "led_mA": LED_CURRENT_MA, "status": ch.status}  # fmt: skip
        tau = decay_time_us(ch.temperature_C)
        return {
            "temperature_C": ch.temperature_C,
            "decay_us": tau,
            "light": int(round(LIGHT_FULL * tau / TAU_RAD_US)),
            "led_mA": LED_CURRENT_MA,
            "status": ch.status,
        }

    def pcb_temperature_C(self) -> float:
        t = max(0.0, self.now() - self._t0)
        return PCB_END_C - (PCB_END_C - PCB_START_C) * math.exp(-t / PCB_TAU_S)

    # -- register map -------------------------------------------------------------------
    def register(self, address: int) -> int | None:
        """The value of holding register ``address`` now (None outside the map)."""
        if address in (reg.SERIAL_NUMBER, reg.SERIAL_NUMBER + 1):
            return (
                (self.serial >> 16) & 0xFFFF
                if address == reg.SERIAL_NUMBER
                else self.serial & 0xFFFF
            )
        if address == reg.DEVICE_ID:
            return self.device_id
        if reg.FAST_BASE <= address < reg.FAST_BASE + self.channels:
            data = self.channel_data(address - reg.FAST_BASE + 1)
            return reg.fast_value(data["temperature_C"], data["status"])
        if address == reg.PCB_TEMPERATURE:
            return int(round((self.pcb_temperature_C() + reg.KELVIN_OFFSET) * 10))
        for channel in self._ch:
            offset = address - reg.block_address(channel)
            if 0 <= offset < reg.BLOCK_SIZE:
                return self._block_word(channel, offset)
        return None

    def _block_word(self, channel: int, offset: int) -> int:
        data = self.channel_data(channel)
        kelvin = (
            data["temperature_C"] + reg.KELVIN_OFFSET
            if data["status"] != reg.STATUS_NO_SIGNAL
            else 0.0
        )
        words = [
            *reg.fixed_words(kelvin),
            *reg.fixed_words(data["decay_us"]),
            data["light"],
            data["led_mA"],
            0,
            data["status"],
        ]
        return words[offset]

    # -- Modbus RTU ---------------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Bytes from the host: answer every complete frame addressed to this slave."""
        with self.lock:
            self._frame.extend(data)
            while self._frame:
                used, pdu = self._framer.handleFrame(bytes(self._frame), 0, 0)
                if used == 0:
                    if len(self._frame) > self._framer.MAX_SIZE:
                        self._frame.clear()  # garbage that never became a frame
                    return
                del self._frame[:used]
                if pdu is not None and pdu.dev_id == self.slave_id:
                    self.emit(self._framer.buildFrame(self._answer(pdu)))

    def _answer(self, pdu):
        code = pdu.function_code
        if code not in (3, 4):
            return ExceptionResponse(code, _ILLEGAL_FUNCTION, device_id=self.slave_id)
        values = [self.register(a) for a in range(pdu.address, pdu.address + pdu.count)]
        if not values or any(v is None for v in values):
            return ExceptionResponse(code, _ILLEGAL_ADDRESS, device_id=self.slave_id)
        cls = ReadHoldingRegistersResponse if code == 3 else ReadInputRegistersResponse
        return cls(registers=values, dev_id=self.slave_id)

    def close_connection(self) -> None:
        """The host disconnected: forget a partial request and unread replies."""
        with self.lock:
            self._frame.clear()
        super().close_connection()

    def handle(self, line: str) -> None:
        """Not line based: :meth:`receive` frames the bytes."""
        raise NotImplementedError
