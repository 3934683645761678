"""Pure numpy/scipy analysis: SAR/SLP/ILP, CEM43 thermal dose, photothermal conversion
efficiency, temperature control (PID, tuning rules), multispectral optoacoustic unmixing
and optoacoustic thermometry.

Names are imported from their submodule on first use, so ``import labctl.analysis``
stays cheap and a live loop that needs only the PID does not load the fitting code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labctl._lazy import lazy_exports

__all__ = [
    # sar
    "WATER_C_J_PER_KGK",
    "SARResult",
    "SARSummary",
    "heat_capacity_J_per_K",
    "ilp_nH_m2_per_kg_Fe",
    "sar_initial_slope",
    "sar_corrected_slope",
    "sar_box_lucas",
    "sar_all",
    "CalorimetryUncertainty",
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
    "BlankResult",
    "PCEInputs",
    "solvent_blank",
    # control
    "PID",
    "PIDGains",
    "FOPDTModel",
    "simc_tuning",
    "imc_pid_tuning",
    "fit_fopdt_step",
    "field_for_power_fraction",
    "power_fraction_for_field",
    # unmix
    "Unmixed",
    "unmix_spectra",
    "so2",
    "roi_stats",
    "threshold_roi",
    "circle_mask",
    "reduced_scattering",
    "diffuse_fluence",
    "absorption_from_p0",
    # oa_thermometry
    "GRUENEISEN_OFFSET",
    "GRUENEISEN_SLOPE_PER_C",
    "grueneisen_water",
    "theoretical_slope_per_K",
    "OAThermometryCalibration",
    "calibrate_oa_thermometry",
    "signal_ratio",
    "temperature_map",
    # dose of a volume, ablation
    "HENRIQUES_A_PER_S",
    "HENRIQUES_EA_J_PER_MOL",
    "arrhenius_damage",
    "temperature_exceeded_by",
    "volume_dose",
    # unmix: identifiability
    "spectral_condition",
    "background_is_identifiable",
    # oa_thermometry: validation on held-out data
    "held_out_errors",
    "split_for_validation",
]

_SUBMODULE = {
    name: module
    for module, names in {
        "sar": __all__[0:10],
        "dose": __all__[10:18] + __all__[51:56],
        "pce": __all__[18:26],
        "control": __all__[26:34],
        "unmix": __all__[34:43] + __all__[56:58],
        "oa_thermometry": __all__[43:51] + __all__[58:60],
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
        HENRIQUES_A_PER_S,
        HENRIQUES_EA_J_PER_MOL,
        CEM43Accumulator,
        arrhenius_damage,
        cem43,
        cem43_constant,
        cem43_cumulative,
        cem43_rate,
        temperature_exceeded_by,
        time_to_dose_min,
        volume_dose,
    )
    from labctl.analysis.oa_thermometry import (
        GRUENEISEN_OFFSET,
        GRUENEISEN_SLOPE_PER_C,
        OAThermometryCalibration,
        calibrate_oa_thermometry,
        grueneisen_water,
        held_out_errors,
        signal_ratio,
        split_for_validation,
        temperature_map,
        theoretical_slope_per_K,
    )
    from labctl.analysis.pce import (
        BlankResult,
        CoolingFit,
        PCEInputs,
        PCEResult,
        fit_cooling,
        photothermal_efficiency,
        solvent_blank,
        solvent_dissipation_W,
    )
    from labctl.analysis.sar import (
        WATER_C_J_PER_KGK,
        CalorimetryUncertainty,
        SARResult,
        SARSummary,
        heat_capacity_J_per_K,
        ilp_nH_m2_per_kg_Fe,
        sar_all,
        sar_box_lucas,
        sar_corrected_slope,
        sar_initial_slope,
    )
    from labctl.analysis.unmix import (
        Unmixed,
        absorption_from_p0,
        background_is_identifiable,
        circle_mask,
        diffuse_fluence,
        reduced_scattering,
        roi_stats,
        so2,
        spectral_condition,
        threshold_roi,
        unmix_spectra,
    )


__getattr__, __dir__ = lazy_exports(
    __name__, {name: f"labctl.analysis.{module}" for name, module in _SUBMODULE.items()}
)
