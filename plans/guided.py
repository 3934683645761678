"""Image-guided magnetic hyperthermia: image, find the agent, heat it, watch, image again.

The workflow of the seed literature ("image accumulation over time, choose the target,
heat under thermometry, image the response"):

1. ``oa_pre``: a multispectral optoacoustic stack, fluence-compensated and unmixed into
   Hb, HbO2 and the agent; the agent-rich region (largest region above ``roi_fraction``
   of the agent map's top) is the target ROI; the fiber probe's position in the image
   (default: the ROI centroid) is where OA and probe temperatures are compared.
2. ``oa_thermometry``: a reference image at one wavelength, then, while the AMF holds
   the probe at ``target`` under closed-loop PID (``primary``, as
   :func:`~.hyperthermia.magnetic_hyperthermia`), an OA temperature map every
   ``thermometry_period`` s (relative signal vs. the reference; ``calibration`` from
   :func:`~.imaging.oa_thermometry_calibration`, else calibrated in the run against the
   probe as it warms, starting from the water-like Grueneisen slope).
3. ``oa_post``: the multispectral stack again, right after the field is off, analysed with
   the same ROI and the Grueneisen parameter of the last OA temperature map.

``analysis`` holds the ROI statistics before and after, the thermometry agreement
(OA at the probe vs. the probe) and the loop summary (time at target, CEM43).  The field
is off on every exit path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from bluesky import preprocessors as bpp
from bluesky.utils import Msg

from labctl.analysis.control import PID, field_for_power_fraction
from labctl.analysis.oa_thermometry import (
    OAThermometryCalibration,
    calibrate_oa_thermometry,
    grueneisen_water,
    signal_ratio,
    temperature_map,
)
from labctl.analysis.unmix import roi_stats
from labctl.core.errors import ConfigError
from labctl.devices.amf import AMFGenerator
from labctl.devices.optoacoustic import OptoacousticCamera
from labctl.devices.thermometer import FiberOpticThermometer
from labctl.plans._imaging import OAResult, Readout, analyze_oa_stack, circle_roi, oa_frame_info
from labctl.plans.control_loop import LoopSettings, LoopSummary, set_and_wait, temperature_loop
from labctl.plans.hyperthermia import DEFAULT_HYPERTHERMIA_GAINS
from labctl.plans.imaging import DEFAULT_OA_WAVELENGTHS, configure_oa
from labctl.plans.state import PlanState, Results
from labctl.plans.stubs import (
    read_step,
    role_signal,
    save_results,
    switch_off,
    time_of,
    trigger_read,
    value_of,
    with_result,
)

__all__ = ["image_guided_hyperthermia", "GuidedResult"]


@dataclass
class GuidedResult:
    """What the protocol saw: the analysed stacks before/after, the thermometry table
    (clock time, probe, OA at the probe, OA mean/max in the ROI, C), the calibration used
    last and the control-loop summary."""

    pre: OAResult | None = None
    post: OAResult | None = None
    thermometry: dict[str, list] = field(
        default_factory=lambda: {
            "t": [],
            "T_probe": [],
            "T_oa_probe": [],
            "T_oa_roi_mean": [],
            "T_oa_roi_max": [],
        }
    )
    calibration: OAThermometryCalibration | None = None
    summary: LoopSummary = field(default_factory=LoopSummary)

    def thermometry_error_C(self) -> np.ndarray:
        """OA at the probe minus the probe, per thermometry image, C."""
        return np.asarray(self.thermometry["T_oa_probe"]) - np.asarray(self.thermometry["T_probe"])


def image_guided_hyperthermia(
    oa: OptoacousticCamera,
    amf: AMFGenerator,
    thermo: FiberOpticThermometer,
    *,
    target: float,
    hold: float,
    frequency: float,
    max_field: float,
    agent: str = "iron_oxide",
    wavelengths=DEFAULT_OA_WAVELENGTHS,
    averages: int = 1,
    absorbers=("Hb", "HbO2", "water"),
    channel: str = "tumor",
    probe_position: tuple[float, float] | None = None,
    probe_radius: float = 0.5,
    calibration: OAThermometryCalibration | None = None,
    thermometry_wavelength: float = 800.0,
    thermometry_averages: int = 10,
    thermometry_period: float = 30.0,
    roi_fraction: float = 0.5,
    period: float = 1.0,
    ramp_rate: float | None = 1.0,
    gains: dict | None = None,
    md: dict | None = None,
):
    """The protocol in the module doc.  Units: C, s, Hz, kA/m (peak), nm, mm.

    ``hold``: s at ``target`` on probe ``channel``; ``max_field`` is never exceeded and is
    checked with ``frequency`` against the bench's H*f limit before anything is sent.
    """
    if not hold > 0 or not period > 0 or not thermometry_period > 0:
        raise ConfigError("hold, period and thermometry_period must be > 0 s")
    wl = [float(w) for w in wavelengths]
    names = [*absorbers, agent]
    if len(set(names)) != len(names) or len(names) + 1 > len(wl):
        raise ConfigError(f"cannot unmix {names} (+ background) from {len(wl)} wavelengths")
    amf.limits.check_amf(frequency, max_field, where=amf.name)
    amf.check_frequency(frequency)
    (getattr(thermo, "limits", None) or amf.limits).check_temperature(channel, target)
    signal = role_signal(thermo, channel)
    spectra = oa.spectra(names, wl)
    g = {**DEFAULT_HYPERTHERMIA_GAINS, **(gains or {})}
    pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
    settings = LoopSettings(
        target_C=target,
        hold_s=hold,
        period_s=period,
        ramp_C_per_min=ramp_rate,
        max_time_s=hold + 3600.0,
    )
    state = PlanState(clock=amf.clock, command_units="kA/m", name="control")
    res = GuidedResult()
    res.summary = LoopSummary()
    metadata = {
        "plan_name": "image_guided_hyperthermia",
        "plan_args": {
            "target": target,
            "hold": hold,
            "frequency": frequency,
            "max_field": max_field,
            "agent": agent,
            "wavelengths": wl,
            "averages": averages,
            "channel": channel,
            "probe_position": list(probe_position) if probe_position else None,
            "thermometry_wavelength": thermometry_wavelength,
            "thermometry_period": thermometry_period,
            "roi_fraction": roi_fraction,
            "calibration": calibration.as_dict() if calibration else None,
            "gains": g,
        },
        "control_channel": channel,
        "target_C": target,
        "frequency_Hz": frequency,
        "max_field_kA_m": max_field,
        "detectors": [oa.name, thermo.name],
        **(md or {}),
    }
    ctx: dict = {"pairs": ([], [])}
    readouts: dict = {}

    def multispectral(stream: str, roi=None, T_map=None):
        yield from configure_oa(oa, wl, averages)
        yield Msg("create", name=stream)
        readings = yield from trigger_read([oa, thermo])
        # warm tissue: the Grueneisen parameter from the last OA temperature map
        gamma = 0.2 if T_map is None else grueneisen_water(np.nan_to_num(T_map, nan=37.0))
        result = analyze_oa_stack(
            readings[oa.stack.name]["value"],
            wl,
            spectra,
            oa_frame_info(oa),
            agent=agent,
            roi_fraction=roi_fraction,
            fluence=readings.get(oa.fluence.name),
            grueneisen=gamma,
        )
        if roi is not None:  # after heating: the same target region
            s = roi_stats(result.maps[agent], roi)
            result.roi = roi
            result.stats.update(
                agent_roi_mean=s["mean"],
                agent_roi_max=s["max"],
                so2_roi_mean=roi_stats(result.so2, roi)["mean"],
            )
        yield Msg("read", Readout.reuse(readouts, stream, result.arrays(), clock=oa.clock))
        yield Msg("save")
        return result

    def thermometry_step():
        yield Msg("create", name="oa_thermometry")
        readings = yield from trigger_read([oa, thermo])
        image = np.asarray(readings[oa.stack.name]["value"])[0]
        T_probe = value_of(readings, signal)
        if "reference" not in ctx:
            ctx["reference"], ctx["T_ref"] = image, T_probe
        ratio = signal_ratio(image, ctx["reference"], ctx["probe_mask"])
        cal = calibration
        if cal is None:  # in-run calibration against the probe
            ratios, temps = ctx["pairs"]
            ratios.append(ratio)
            temps.append(T_probe)
            cal = OAThermometryCalibration.theoretical(ctx["T_ref"])
            if len(ratios) >= 3 and np.ptp(temps) > 0.5:
                cal = calibrate_oa_thermometry(ratios, temps, T0_C=ctx["T_ref"])
        ref_C = None if calibration is None else ctx["T_ref"]
        T_map = temperature_map(image, ctx["reference"], cal, reference_C=ref_C)
        T_probe_oa = float(cal.temperature(ratio, ref_C))
        roi = roi_stats(T_map, ctx["roi"])
        row = {
            "t": time_of(readings, signal),
            "T_probe": T_probe,
            "T_oa_probe": T_probe_oa,
            "T_oa_roi_mean": roi["mean"],
            "T_oa_roi_max": roi["max"],
        }
        for k, v in row.items():
            res.thermometry[k].append(v)
        res.calibration = cal
        ctx["T_map"] = T_map
        values = {
            "T_map": (T_map.astype(np.float32), "degC"),
            "ratio_probe": (ratio, ""),
            "T_oa_probe": (T_probe_oa, "degC"),
            "T_oa_roi_mean": (roi["mean"], "degC"),
            "T_oa_roi_max": (roi["max"], "degC"),
            "calibrated": (int(calibration is not None or cal.n_points > 0), ""),
        }
        yield Msg("read", Readout.reuse(readouts, "thermometry", values, clock=oa.clock))
        yield Msg("save")

    def ensure_on(readings):
        entry = readings.get(amf.output.name)
        if entry is not None and not entry["value"]:
            yield from set_and_wait(amf.output, 1)
        if amf.clock.now() >= ctx["next_oa"] - 1e-6:
            yield from thermometry_step()
            ctx["next_oa"] += thermometry_period

    def command_for(u: float) -> float:
        return field_for_power_fraction(u, max_field * 1e3) / 1e3

    def apply(field_kA_m: float):
        yield from set_and_wait(amf.field, min(field_kA_m, max_field))

    def body():
        yield from read_step([thermo], stream="baseline")
        res.pre = yield from multispectral("oa_pre")
        if not res.pre.roi.any():
            raise ConfigError(f"no {agent}-rich region found in the image; nothing to heat")
        center = probe_position or res.pre.centroid_mm
        ctx["roi"] = res.pre.roi
        ctx["probe_mask"] = circle_roi(oa, center, probe_radius)
        yield from configure_oa(oa, [thermometry_wavelength], thermometry_averages)
        yield from thermometry_step()
        ctx["next_oa"] = amf.clock.now() + thermometry_period
        yield from set_and_wait(amf.field, 0.0)
        yield from set_and_wait(amf.frequency, frequency)
        yield from set_and_wait(amf.output, 1)
        yield from temperature_loop(
            thermo,
            signal,
            [amf],
            state,
            pid,
            settings,
            command_for=command_for,
            apply=apply,
            ensure_on=ensure_on,
            summary=res.summary,
        )
        yield from switch_off(amf)
        res.post = yield from multispectral("oa_post", roi=res.pre.roi, T_map=ctx["T_map"])
        values = res.summary.values("kA/m")
        for key in ("agent_roi_mean", "so2_roi_mean", "roi_area_mm2", "roi_x_mm", "roi_z_mm"):
            values[f"pre_{key}"] = (float(res.pre.stats.get(key, math.nan)), "")
            values[f"post_{key}"] = (float(res.post.stats.get(key, math.nan)), "")
        err = res.thermometry_error_C()
        values.update(
            {
                "probe_x_mm": (float(center[0]), "mm"),
                "probe_z_mm": (float(center[1]), "mm"),
                "thermometry_images": (int(err.size), ""),
                "thermometry_rms_C": (float(np.sqrt(np.mean(err**2))), "degC"),
                "thermometry_max_abs_C": (float(np.max(np.abs(err))), "degC"),
                "oa_roi_T_max_C": (float(np.nanmax(res.thermometry["T_oa_roi_max"])), "degC"),
                "calibration_slope_per_K": (float(res.calibration.slope_per_K), "1/K"),
            }
        )
        yield from save_results(Results("guided", values, clock=amf.clock))

    plan = bpp.finalize_wrapper(body(), switch_off(amf))
    plan = bpp.stage_wrapper(plan, [thermo, amf, oa])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: res)
