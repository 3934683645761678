"""Pure numpy/scipy analysis: SAR/SLP/ILP, CEM43 thermal dose, photothermal conversion
efficiency and temperature control (PID, tuning rules).

Names are imported from their submodule on first use, so ``import labctl.analysis``
stays cheap and a live loop that needs only the PID does not load the fitting code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    # sar
    "WATER_C_J_PER_KGK",
    "SARResult",
    "SARSummary",
    "heat_capacity_J_per_K",
    "ilp_nH_m2_per_kg",
    "sar_initial_slope",
    "sar_corrected_slope",
    "sar_box_lucas",
    "sar_all",
    # dose
    "CEM43_DAMAGE_MIN",
    "CEM43_NECROSIS_MIN",
    "CEM43Accumulator",
    "cem43",
    "cem43_constant",
    "cem43_cumulative",
    "cem43_rate",
    "time_to_dose_min",
    # pce
    "CoolingFit",
    "PCEResult",
    "fit_cooling",
    "photothermal_efficiency",
    "solvent_dissipation_W",
    # control
    "PID",
    "PIDGains",
    "FOPDTModel",
    "simc_tuning",
    "imc_pid_tuning",
    "fit_fopdt_step",
    "field_for_power_fraction",
    "power_fraction_for_field",
]

_SUBMODULE = {
    name: module
    for module, names in {
        "sar": __all__[0:9],
        "dose": __all__[9:17],
        "pce": __all__[17:22],
        "control": __all__[22:30],
    }.items()
    for name in names
}
"""Submodule defining each public name (slices of ``__all__``, kept in step by a test)."""

if TYPE_CHECKING:
    from labctl.analysis.control import (
        PID,
        FOPDTModel,
        PIDGains,
        field_for_power_fraction,
        fit_fopdt_step,
        imc_pid_tuning,
        power_fraction_for_field,
        simc_tuning,
    )
    from labctl.analysis.dose import (
        CEM43_DAMAGE_MIN,
        CEM43_NECROSIS_MIN,
        CEM43Accumulator,
        cem43,
        cem43_constant,
        cem43_cumulative,
        cem43_rate,
        time_to_dose_min,
    )
    from labctl.analysis.pce import (
        CoolingFit,
        PCEResult,
        fit_cooling,
        photothermal_efficiency,
        solvent_dissipation_W,
    )
    from labctl.analysis.sar import (
        WATER_C_J_PER_KGK,
        SARResult,
        SARSummary,
        heat_capacity_J_per_K,
        ilp_nH_m2_per_kg,
        sar_all,
        sar_box_lucas,
        sar_corrected_slope,
        sar_initial_slope,
    )


def __getattr__(name: str) -> Any:
    module = _SUBMODULE.get(name)
    if module is None:
        raise AttributeError(f"module 'labctl.analysis' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labctl.analysis.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
