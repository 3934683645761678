"""Instrument emulators: bytes in, bytes out, driving and reading the simulated world."""
