"""Bluesky plans for hyperthermia, photothermal therapy and imaging (``labctl.plans``)."""
