"""Pure numpy analysis: SAR, thermal dose, photothermal conversion efficiency, control."""
