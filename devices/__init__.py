"""Hardware abstractions: protocol drivers and ophyd devices (``labctl.devices``)."""
