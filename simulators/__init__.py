"""Simulated bench: sample physics and emulators that speak the instruments' protocols."""
