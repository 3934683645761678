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
from labctl.plans._imaging import (
    OAResult,
    Readout,
    analyze_oa_stack,
    circle_roi,
    oa_frame_info,
    so2_region,
)
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


class _GuidedRun:
    """The protocol's state and its steps (generators, used with ``yield from``): the
    multispectral stacks, the OA thermometry images and the loop's ``ensure_on``."""

    def __init__(self, oa, amf, thermo, signal, wl: list[float], spectra) -> None:
        self.oa, self.amf, self.thermo, self.signal = oa, amf, thermo, signal
        self.wl, self.spectra = wl, spectra
        # the protocol's options, set by the plan
        self.agent = ""
        self.averages = 1
        self.roi_fraction = math.nan
        self.calibration: OAThermometryCalibration | None = None
        self.thermometry_period = math.nan
        self.frequency = math.nan
        self.max_field = math.nan
        self.res = GuidedResult()
        self.res.summary = LoopSummary()
        self.ctx: dict = {"pairs": ([], [])}
        self.readouts: dict = {}

    def multispectral(self, stream: str, roi=None, T_map=None):
        """One multispectral stack into ``stream``, analysed (with ``roi``: the same target
        region; with ``T_map``: the Grueneisen parameter of warm tissue)."""
        oa, wl, agent = self.oa, self.wl, self.agent
        yield from configure_oa(oa, wl, self.averages)
        yield Msg("create", name=stream)
        readings = yield from trigger_read([oa, self.thermo])
        # warm tissue: the Grueneisen parameter from the last OA temperature map
        gamma = 0.2 if T_map is None else grueneisen_water(np.nan_to_num(T_map, nan=37.0))
        result = analyze_oa_stack(
            readings[oa.stack.name]["value"],
            wl,
            self.spectra,
            oa_frame_info(oa),
            agent=agent,
            roi_fraction=self.roi_fraction,
            fluence=readings.get(oa.fluence.name),
            grueneisen=gamma,
        )
        if roi is not None:  # after heating: the same target region
            s = roi_stats(result.maps[agent], roi)
            result.roi = roi
            result.stats.update(agent_roi_mean=s["mean"], agent_roi_max=s["max"])
            result.stats.update(so2_region(result.so2, result.so2_std, roi, prefix="so2_roi"))
        yield Msg("read", Readout.reuse(self.readouts, stream, result.arrays(), clock=oa.clock))
        yield Msg("save")
        return result

    def _calibration_for(self, ratio: float, T_probe: float) -> OAThermometryCalibration:
        """The given calibration, else the in-run one against the probe (theoretical until
        three images span more than 0.5 K)."""
        if self.calibration is not None:
            return self.calibration
        ratios, temps = self.ctx["pairs"]
        ratios.append(ratio)
        temps.append(T_probe)
        cal = OAThermometryCalibration.theoretical(self.ctx["T_ref"])
        if len(ratios) >= 3 and np.ptp(temps) > 0.5:
            cal = calibrate_oa_thermometry(ratios, temps, T0_C=self.ctx["T_ref"])
        return cal

    def thermometry_step(self):
        """One OA temperature map (the first image is the reference) into
        ``oa_thermometry``, compared with the probe."""
        oa, ctx, res = self.oa, self.ctx, self.res
        yield Msg("create", name="oa_thermometry")
        readings = yield from trigger_read([oa, self.thermo])
        image = np.asarray(readings[oa.stack.name]["value"])[0]
        T_probe = value_of(readings, self.signal)
        if "reference" not in ctx:
            ctx["reference"], ctx["T_ref"] = image, T_probe
        ratio = signal_ratio(image, ctx["reference"], ctx["probe_mask"])
        cal = self._calibration_for(ratio, T_probe)
        ref_C = None if self.calibration is None else ctx["T_ref"]
        T_map = temperature_map(image, ctx["reference"], cal, reference_C=ref_C)
        T_probe_oa = float(cal.temperature(ratio, ref_C))
        roi = roi_stats(T_map, ctx["roi"])
        row = {
            "t": time_of(readings, self.signal),
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
            "calibrated": (int(self.calibration is not None or cal.n_points > 0), ""),
        }
        yield Msg("read", Readout.reuse(self.readouts, "thermometry", values, clock=oa.clock))
        yield Msg("save")

    def ensure_on(self, readings):
        """The loop's per-step hook: the output back on; an OA temperature map when due."""
        amf = self.amf
        entry = readings.get(amf.output.name)
        if entry is not None and not entry["value"]:
            yield from set_and_wait(amf.output, 1)
        if amf.clock.now() >= self.ctx["next_oa"] - 1e-6:
            yield from self.thermometry_step()
            self.ctx["next_oa"] += self.thermometry_period

    def find_target(self, probe_position, probe_radius: float, wavelength: float, averages):
        """``oa_pre``, its agent-rich ROI (ConfigError if none) and the probe disc; then
        the thermometry reference at ``wavelength``.  Returns the probe's (x, z) mm."""
        res = self.res
        res.pre = yield from self.multispectral("oa_pre")
        if not res.pre.roi.any():
            raise ConfigError(f"no {self.agent}-rich region found in the image; nothing to heat")
        center = probe_position or res.pre.centroid_mm
        self.ctx["roi"] = res.pre.roi
        self.ctx["probe_mask"] = circle_roi(self.oa, center, probe_radius)
        yield from configure_oa(self.oa, [wavelength], averages)
        yield from self.thermometry_step()
        self.ctx["next_oa"] = self.amf.clock.now() + self.thermometry_period
        return center

    def protocol(self, state, pid, settings, probe: tuple):
        """The run's body: baseline, ``oa_pre`` and the target, closed-loop heating with OA
        thermometry, field off, ``oa_post``, the analysis.  ``probe``: the arguments of
        :meth:`find_target`."""
        amf, thermo, res = self.amf, self.thermo, self.res
        command_for, apply = _field_control(amf, self.max_field)
        yield from read_step([thermo], stream="baseline")
        center = yield from self.find_target(*probe)
        yield from set_and_wait(amf.field, 0.0)
        yield from set_and_wait(amf.frequency, self.frequency)
        yield from set_and_wait(amf.output, 1)
        yield from temperature_loop(
            thermo,
            self.signal,
            [amf],
            state,
            pid,
            settings,
            command_for=command_for,
            apply=apply,
            ensure_on=self.ensure_on,
            summary=res.summary,
        )
        yield from switch_off(amf)
        res.post = yield from self.multispectral(
            "oa_post", roi=res.pre.roi, T_map=self.ctx["T_map"]
        )
        values = _guided_values(res, center)
        yield from save_results(Results("guided", values, clock=amf.clock))


def _check_times(hold: float, period: float, thermometry_period: float) -> None:
    if not hold > 0 or not period > 0 or not thermometry_period > 0:
        raise ConfigError("hold, period and thermometry_period must be > 0 s")


def _check_guided_args(amf, thermo, wavelengths, names, frequency, max_field, channel, target):
    """Validate before anything is sent: the wavelengths (as floats, nm) and the unmixed
    components' ``names``."""
    wl = [float(w) for w in wavelengths]
    if len(set(names)) != len(names) or len(names) + 1 > len(wl):
        raise ConfigError(f"cannot unmix {names} (+ background) from {len(wl)} wavelengths")
    amf.limits.check_amf(frequency, max_field, where=amf.name)
    amf.check_frequency(frequency)
    (getattr(thermo, "limits", None) or amf.limits).check_temperature(channel, target)
    return wl, names


def _guided_controller(target, hold, period, ramp_rate, gains):
    """The gains used, the PID on the power fraction and the loop settings."""
    g = {**DEFAULT_HYPERTHERMIA_GAINS, **(gains or {})}
    pid = PID(g["kp"], g["ki"], g.get("kd", 0.0), target, output_limits=(0.0, 1.0))
    settings = LoopSettings(
        target_C=target,
        hold_s=hold,
        period_s=period,
        ramp_C_per_min=ramp_rate,
        max_time_s=hold + 3600.0,
    )
    return g, pid, settings


def _field_control(amf, max_field: float):
    """The loop's ``command_for`` (power fraction to field, kA/m, up to ``max_field``)
    and ``apply`` (sets the field, never above ``max_field``)."""

    def command_for(u: float) -> float:
        return field_for_power_fraction(u, max_field * 1e3) / 1e3

    def apply(field_kA_m: float):
        yield from set_and_wait(amf.field, min(field_kA_m, max_field))

    return command_for, apply


def _guided_metadata(oa, thermo, plan_args: dict, md: dict | None) -> dict:
    """The run's start metadata from its ``plan_args``."""
    return {
        "plan_name": "image_guided_hyperthermia",
        "plan_args": plan_args,
        "control_channel": plan_args["channel"],
        "target_C": plan_args["target"],
        "frequency_Hz": plan_args["frequency"],
        "max_field_kA_m": plan_args["max_field"],
        "detectors": [oa.name, thermo.name],
        **(md or {}),
    }


def _guided_values(res: GuidedResult, center) -> dict:
    """The ``analysis`` values: the loop summary, the ROI before and after, the probe
    position and the thermometry agreement."""
    values = res.summary.values("kA/m")
    keys = ("agent_roi_mean", "so2_roi_mean", "so2_roi_std", "so2_roi_identifiable")
    for key in (*keys, "roi_area_mm2", "roi_x_mm", "roi_z_mm"):
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
    return values


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

    - ``target``: setpoint of probe ``channel``, C; ``hold``: time at target, s
    - ``frequency``: the generator's tank, Hz; ``max_field``: peak field, kA/m, never
      exceeded and checked with ``frequency`` against the bench's H*f limit before
      anything is sent
    - ``wavelengths`` nm of the multispectral stacks, ``averages`` pulses per wavelength
    - ``roi_fraction``: the target ROI's threshold, a fraction of the agent map's top
    - ``probe_position`` (x, z) mm of the fiber tip (default: the ROI centroid);
      ``probe_radius``: radius of the disc compared with the probe, mm
    - ``thermometry_wavelength``: wavelength of the OA temperature maps, nm;
      ``thermometry_averages``: pulses per image;
      ``thermometry_period``: interval between OA temperature maps, s
    - ``period``: control period, s; ``ramp_rate``: setpoint ramp, C/min (None: a step)
    """
    _check_times(hold, period, thermometry_period)
    wl, names = _check_guided_args(
        amf, thermo, wavelengths, [*absorbers, agent], frequency, max_field, channel, target
    )
    signal = role_signal(thermo, channel)
    run = _GuidedRun(oa, amf, thermo, signal, wl, oa.spectra(names, wl))
    run.agent, run.averages, run.roi_fraction = agent, averages, roi_fraction
    run.calibration, run.thermometry_period = calibration, thermometry_period
    run.frequency, run.max_field = frequency, max_field
    g, pid, settings = _guided_controller(target, hold, period, ramp_rate, gains)
    state = PlanState(clock=amf.clock, command_units="kA/m", name="control")
    plan_args = {
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
    }
    metadata = _guided_metadata(oa, thermo, plan_args, md)
    probe = (probe_position, probe_radius, thermometry_wavelength, thermometry_averages)
    plan = bpp.finalize_wrapper(run.protocol(state, pid, settings, probe), switch_off(amf))
    plan = bpp.stage_wrapper(plan, [thermo, amf, oa])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: run.res)
