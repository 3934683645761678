"""Bluesky plans for hyperthermia, photothermal therapy and imaging (``labctl.plans``).

Every energizing plan validates its setpoints against the bench limits before anything
is sent, records a baseline of all thermometer channels, checkpoints each step (pause
and resume work) and ends with its outputs off on every exit path.
"""

from labctl.plans.guided import image_guided_hyperthermia
from labctl.plans.hyperthermia import magnetic_hyperthermia, sar_measurement
from labctl.plans.imaging import (
    fluorescence_timecourse,
    multispectral_optoacoustic,
    oa_thermometry_calibration,
    stream_frames,
)
from labctl.plans.photothermal import photothermal_conversion, photothermal_therapy

__all__ = [
    "magnetic_hyperthermia",
    "sar_measurement",
    "photothermal_therapy",
    "photothermal_conversion",
    "multispectral_optoacoustic",
    "fluorescence_timecourse",
    "oa_thermometry_calibration",
    "stream_frames",
    "image_guided_hyperthermia",
]
