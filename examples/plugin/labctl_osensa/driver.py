"""Driver of an OSENSA FTX fiber-optic (phosphor) temperature transmitter, Modbus RTU.

Register map and line settings: :mod:`labctl_osensa.registers` (from OSENSA's
``osensapy``).  The Modbus frames (function 3 reads, CRC) are minimalmodbus's.

It implements labctl's ``ThermometerDriver`` Protocol, so a
``labctl.devices.FiberOpticThermometer`` works on top and every plan runs unchanged:

- ``read_temperatures()``: in ``"fast"`` acquisition mode one read of the fast
  registers of all channels (0.1 C, status digit included); in ``"slow"`` mode one read
  of each enabled channel's block (16.16 fixed-point kelvin, i.e. ~15 uC steps);
- ``read_channel(ch)``: the channel's block (full resolution and its status);
- ``probe_status()``: each channel's status register (``"ok"``, ``"no probe"`` for no
  light back, ``"fault"`` otherwise);
- ``enclosure_temperature()``: the PCB temperature register.

The transmitter measures every channel all the time: "enabling" channels only selects
which ones this driver reports (no command is sent).  Temperatures are in degrees C;
``None`` stands for a reading with a non-zero status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, NamedTuple, TypeVar

import minimalmodbus
from pydantic import BaseModel, ConfigDict, Field

from labctl.core.clock import Clock, WallClock
from labctl.core.errors import InstrumentError, TransportError
from labctl.core.transport import Transport
from labctl_osensa import registers as reg
from labctl_osensa.serial_link import TransportSerial

__all__ = ["OsensaFTX", "OsensaOptions", "ChannelData"]

T = TypeVar("T")

STATUS_NAMES = {reg.STATUS_OK: "ok", reg.STATUS_NO_SIGNAL: "no probe"}  #: else "fault"


class OsensaOptions(BaseModel):
    """Bench-file keys of an OSENSA FTX entry besides the thermometer's own."""

    model_config = ConfigDict(extra="forbid")

    transmitter_channels: Literal[1, 3, 6] = 3  #: channels of the transmitter model
    slave_id: int | None = Field(None, ge=1, le=247)  #: default: 247 (1 ch) or 40 (3, 6 ch)


class ChannelData(NamedTuple):
    """One channel block: temperature C, decay time (us), light level, LED current
    (mA), status (0 = valid)."""

    temperature_C: float
    decay_us: float
    light_level: int
    led_current_mA: int
    status: int


class OsensaFTX:
    """OSENSA FTX transmitter (1, 3 or 6 channels) behind ``transport`` (9600 8N1).

    Parameters
    ----------
    transport:
        an open :class:`~labctl.core.transport.Transport`.
    clock:
        bench clock: callers at the same clock instant share one reading.
    transmitter_channels:
        1, 3 or 6 (channels A.. map to 1..).
    slave_id:
        Modbus slave address; default 247 for one channel, 40 otherwise.
    retries:
        how many times a read is repeated after no reply or a corrupt reply.
    """

    kind = "thermometer"
    wire = "serial"
    emulator = "osensa_ftx"
    Options = OsensaOptions

    def __init__(
        self,
        transport: Transport,
        *,
        clock: Clock | None = None,
        transmitter_channels: int = 3,
        slave_id: int | None = None,
        retries: int = 1,
    ) -> None:
        if transmitter_channels not in (1, 3, 6):
            raise ValueError(
                f"transmitter_channels must be 1, 3 or 6, not {transmitter_channels!r}"
            )
        if slave_id is None:
            slave_id = reg.SLAVE_SINGLE if transmitter_channels == 1 else reg.SLAVE_TRIPLE
        if isinstance(slave_id, bool) or not isinstance(slave_id, int) or not 1 <= slave_id <= 247:
            raise ValueError(f"slave_id must be an integer 1..247, not {slave_id!r}")
        self.transport = transport
        self.channels = transmitter_channels
        self.slave_id = slave_id
        self.clock = clock if clock is not None else WallClock()
        self.retries = int(retries)
        self._enabled = tuple(range(1, transmitter_channels + 1))
        self._mode = "fast"
        self._last: tuple[float, str, dict[int, float | None]] | None = None
        self._modbus = minimalmodbus.Instrument(TransportSerial(transport), slave_id)
        self._modbus.clear_buffers_before_each_transaction = True

    def __repr__(self) -> str:
        return f"<OsensaFTX {self.channels} ch, slave {self.slave_id} at {self.transport.address}>"

    # -- ThermometerDriver ----------------------------------------------------------
    def initialize(self) -> None:
        """Check the link by reading the serial number; fast acquisition, all channels."""
        self.serial_number()
        self._mode = "fast"
        self._enabled = tuple(range(1, self.channels + 1))

    def read_temperatures(self) -> dict[int, float | None]:
        """``{channel: C or None}`` for the enabled channels (see the module docstring)."""
        now = self.clock.now()
        if self._last is not None and self._last[:2] == (now, self._mode):
            return dict(self._last[2])
        if self._mode == "fast":
            fast = self.read_fast()
            result = {ch: fast[ch] for ch in self._enabled}
        else:
            result = {ch: self.read_channel(ch) for ch in self._enabled}
        self._last = (now, self._mode, result)
        return dict(result)

    def read_channel(self, channel: int) -> float | None:
        """One channel at full resolution, C (None when its status is not 0)."""
        data = self.read_block(channel)
        return data.temperature_C if data.status == reg.STATUS_OK else None

    def set_enabled_channels(self, channels: Iterable[int]) -> None:
        """Report only ``channels`` (nothing is sent: the transmitter measures all)."""
        wanted = sorted({self._check_channel(c) for c in channels})
        if not wanted:
            raise ValueError("at least one channel must stay enabled")
        self._enabled = tuple(wanted)

    def enabled_channels(self) -> tuple[int, ...]:
        return self._enabled

    def acquisition_mode(self) -> str:
        """``"fast"`` (fast registers, 0.1 C) or ``"slow"`` (channel blocks, 16.16)."""
        return self._mode

    def set_acquisition_mode(self, mode: str) -> None:
        if mode not in ("fast", "slow"):
            raise ValueError(f"acquisition mode must be 'fast' or 'slow', not {mode!r}")
        self._mode = mode

    def enclosure_temperature(self) -> float:
        """PCB temperature (register 4144), C."""
        raw = self._read("PCB temperature", lambda m: m.read_register(reg.PCB_TEMPERATURE))
        return raw / 10.0 - reg.KELVIN_OFFSET

    def probe_status(self) -> dict[int, str]:
        """Per channel ``"ok"``, ``"no probe"`` (no light back) or ``"fault"``."""
        out = {}
        for ch in range(1, self.channels + 1):
            address = reg.block_address(ch, reg.STATUS)
            status = self._read(f"status of channel {ch}", lambda m, a=address: m.read_register(a))
            out[ch] = STATUS_NAMES.get(status, "fault")
        return out

    # -- transmitter registers ----------------------------------------------------------
    def read_fast(self) -> dict[int, float | None]:
        """Every channel's fast register: ``{channel: C or None}``."""
        raw = self._read(
            "fast temperatures",
            lambda m: m.read_registers(reg.FAST_BASE, self.channels),
            count=self.channels,
        )
        out: dict[int, float | None] = {}
        for ch, value in enumerate(raw, start=1):
            temperature, status = reg.parse_fast(value)
            out[ch] = temperature if status == reg.STATUS_OK else None
        return out

    def read_block(self, channel: int) -> ChannelData:
        """The 8-register block of ``channel``: temperature, decay, light, LED, status."""
        address = reg.block_address(self._check_channel(channel))
        words = self._read(
            f"block of channel {channel}",
            lambda m: m.read_registers(address, reg.BLOCK_SIZE),
            count=reg.BLOCK_SIZE,
        )
        return ChannelData(
            temperature_C=reg.from_fixed_words(words[0], words[1]) - reg.KELVIN_OFFSET,
            decay_us=reg.from_fixed_words(words[reg.DECAY], words[reg.DECAY + 1]),
            light_level=words[reg.LIGHT],
            led_current_mA=words[reg.LED_CURRENT],
            status=words[reg.STATUS],
        )

    def serial_number(self) -> int:
        """32-bit serial number (registers 2-3)."""
        return self._read("serial number", lambda m: m.read_long(reg.SERIAL_NUMBER))

    def device_id(self) -> int:
        """Device id (register 10)."""
        return self._read("device id", lambda m: m.read_register(reg.DEVICE_ID))

    def identity(self) -> dict[str, str]:
        """Model, serial number and slave address, for listings."""
        return {
            "Model": f"OSENSA FTX ({self.channels}-channel)",
            "Serial": str(self.serial_number()),
            "Slave": str(self.slave_id),
        }

    # -- machinery ----------------------------------------------------------------------
    def _check_channel(self, channel: int) -> int:
        if isinstance(channel, bool) or not isinstance(channel, int):
            raise ValueError(f"channel must be an integer 1..{self.channels}, not {channel!r}")
        if not 1 <= channel <= self.channels:
            raise ValueError(f"channel must be 1..{self.channels}, not {channel!r}")
        return channel

    def _read(self, what: str, call: Callable[[minimalmodbus.Instrument], T], count=None) -> T:
        """Run one Modbus read under the transport lock, retrying a missing/corrupt reply."""
        where = f"{self.transport.address} (slave {self.slave_id})"
        for attempt in range(self.retries + 1):
            try:
                with self.transport.lock:
                    value = call(self._modbus)
            except minimalmodbus.NoResponseError as exc:
                error: Exception = TransportError(f"{where}: no reply reading the {what}: {exc}")
            except minimalmodbus.SlaveReportedException as exc:
                raise InstrumentError(f"{where} refused reading the {what}: {exc}") from None
            except (minimalmodbus.InvalidResponseError, ValueError) as exc:
                error = InstrumentError(f"{where}: corrupt reply reading the {what}: {exc}")
            else:
                if count is not None and len(value) != count:
                    raise InstrumentError(f"{where}: {len(value)} registers for the {what}")
                return value
            if attempt == self.retries:
                raise error
        raise AssertionError("unreachable")
