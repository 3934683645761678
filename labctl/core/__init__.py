"""Floor 1 of labctl: transports, clocks, units, errors and safety limits."""
