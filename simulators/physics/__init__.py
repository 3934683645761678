"""The physics of the simulated sample: vial and mouse tumor, bioheat, magnetic and laser
heating, optics, agent kinetics, image formation and fiber probes."""
