"""One module per real instrument model; protocol level, no ophyd."""
