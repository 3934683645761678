"""OSENSA FTX transmitter: the Modbus RTU register map shared by driver and emulator.

From OSENSA's own Python package ``osensapy`` (module ``osensapy.py``, class
``Transmitter``), which runs against real transmitters:

- serial line 9600 baud, 8 data bits, no parity, 1 stop bit; slave address 247 for a
  single-channel transmitter, 40 for a triple-channel one;
- holding registers, read with function 3, written with function 16;
- serial number: 32 bits in registers 2-3 (high word first); device id: register 10
  (writing it needs a security unlock);
- "fast" temperatures: registers 1024..1029 for channels A..F, each
  ``int(T * 10) * 10 + status digit`` with T in degrees Celsius;
- per-channel block of 8 registers at 4096 (A), 4112 (B), 4128 (C), 4104 (D), 4120 (E),
  4136 (F): +0/+1 temperature as unsigned 16.16 fixed point in kelvin with a 273.0
  offset (``raw / 65536 - 273.0`` = C), +2/+3 phosphor decay time (16.16 fixed point),
  +4 light level, +5 LED current, +7 channel status;
- PCB temperature: register 4144, ``raw / 10 - 273.0`` = C.

*Modeled, not documented*: the meaning of the status values (0 = valid reading,
1 = no light back: missing or broken probe, 2 = reading out of range), the unit of
the decay time (microseconds) and of the LED current (mA), register +6 (reserved,
reads 0).
"""

from __future__ import annotations

__all__ = [
    "BAUDRATE",
    "SLAVE_SINGLE",
    "SLAVE_TRIPLE",
    "CHANNEL_LETTERS",
    "SERIAL_NUMBER",
    "DEVICE_ID",
    "FAST_BASE",
    "BLOCK_BASE",
    "BLOCK_SIZE",
    "PCB_TEMPERATURE",
    "STATUS_OK",
    "STATUS_NO_SIGNAL",
    "STATUS_OUT_OF_RANGE",
    "KELVIN_OFFSET",
    "FIXED_ONE",
    "block_address",
    "fast_value",
    "parse_fast",
    "fixed_words",
    "from_fixed_words",
]

BAUDRATE = 9600  #: default line speed (8N1)
SLAVE_SINGLE = 247  #: default slave address of a single-channel transmitter
SLAVE_TRIPLE = 40  #: default slave address of a triple-channel transmitter
CHANNEL_LETTERS = "ABCDEF"  #: channel 1 is A, ..., channel 6 is F

SERIAL_NUMBER = 2  #: 32-bit serial number, registers 2-3
DEVICE_ID = 10  #: device id (write needs a security unlock)
FAST_BASE = 1024  #: fast temperature of channel A; B..F follow
BLOCK_BASE = {1: 4096, 2: 4112, 3: 4128, 4: 4104, 5: 4120, 6: 4136}  #: channel -> block
BLOCK_SIZE = 8  #: registers per channel block
TEMPERATURE, DECAY, LIGHT, LED_CURRENT, STATUS = 0, 2, 4, 5, 7  #: offsets in a block
PCB_TEMPERATURE = 4144  #: PCB temperature, (T + 273.0) * 10

STATUS_OK, STATUS_NO_SIGNAL, STATUS_OUT_OF_RANGE = 0, 1, 2  #: modeled status values
KELVIN_OFFSET = 273.0  #: offset of the 16.16 kelvin temperatures (osensapy uses 273.0)
FIXED_ONE = 65536  #: 1.0 in 16.16 fixed point


def block_address(channel: int, offset: int = 0) -> int:
    """Register address of ``offset`` in the block of ``channel`` (1..6)."""
    return BLOCK_BASE[channel] + offset


def fast_value(temperature_C: float, status: int) -> int:
    """The fast register for a reading: ``int(T * 10) * 10 + status`` (T >= 0 C)."""
    tenths = max(0, min(6552, int(round(temperature_C * 10.0))))
    return tenths * 10 + status


def parse_fast(raw: int) -> tuple[float, int]:
    """``(temperature_C, status)`` from a fast register value."""
    return (raw // 10) / 10.0, raw % 10


def fixed_words(value: float) -> tuple[int, int]:
    """Unsigned 16.16 fixed point as (high word, low word)."""
    raw = max(0, min(0xFFFFFFFF, int(round(value * FIXED_ONE))))
    return raw >> 16, raw & 0xFFFF


def from_fixed_words(high: int, low: int) -> float:
    """The value of an unsigned 16.16 fixed-point (high word, low word) pair."""
    return ((high << 16) | low) / FIXED_ONE
