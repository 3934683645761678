"""The labctl exception tree.

Every error says what was wrong, where (file/key/address/command) and, where it
helps, what to do.  Catch ``LabctlError`` to catch all of them.
"""

from __future__ import annotations


class LabctlError(Exception):
    """Base of every error labctl raises on purpose."""


class ConfigError(LabctlError):
    """A bench file, protocol file or option is invalid (names the file and key path)."""


class TransportError(LabctlError):
    """A byte-level link failed: could not open, no reply within the timeout, closed."""


class InstrumentError(LabctlError):
    """An instrument refused a command or sent a reply the driver cannot parse."""


class InterlockError(InstrumentError):
    """An instrument refuses to energize: interlock open, keylock off, TEC not settled,
    coolant fault.  Nothing was energized."""


class LimitError(LabctlError):
    """A setpoint or protocol exceeds the bench's safety limits; nothing was sent."""


class SafetyTrip(LabctlError):
    """The safety monitor switched the outputs off and aborted the run."""


class DataError(LabctlError):
    """A run store is missing, damaged or not a labctl run."""
