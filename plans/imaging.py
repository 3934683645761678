"""Imaging plans: multispectral optoacoustics, fluorescence time courses, OA thermometry
calibration, and frame streaming.

Each plan stores its images in the run (``primary``), the maps it computed in their own
stream (one event of arrays), and its scalar results in ``analysis``.  Analysis is
:mod:`labctl.analysis.unmix` and :mod:`labctl.analysis.oa_thermometry`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from bluesky import preprocessors as bpp
from bluesky.utils import Msg

from labctl.analysis.oa_thermometry import (
    calibrate_oa_thermometry,
    held_out_errors,
    signal_ratio,
    split_for_validation,
)
from labctl.core.errors import ConfigError
from labctl.devices.amf import AMFGenerator
from labctl.devices.camera import CameraDevice
from labctl.devices.fluorescence import FluorescenceCamera
from labctl.devices.optoacoustic import OptoacousticCamera
from labctl.devices.thermometer import FiberOpticThermometer
from labctl.plans._imaging import (
    Readout,
    analyze_oa_stack,
    circle_roi,
    default_rois,
    oa_frame_info,
)
from labctl.plans.control_loop import set_and_wait
from labctl.plans.state import Results
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

__all__ = [
    "multispectral_optoacoustic",
    "fluorescence_timecourse",
    "oa_thermometry_calibration",
    "stream_frames",
    "DEFAULT_OA_WAVELENGTHS",
]

#: 680-980 nm in 20 nm steps (the tunable range of MSOT-like scanners)
DEFAULT_OA_WAVELENGTHS = tuple(float(w) for w in range(680, 981, 20))


def _check_wavelengths(wavelengths) -> list[float]:
    wl = [float(w) for w in np.atleast_1d(np.asarray(wavelengths, dtype=float))]
    if not wl or len(set(wl)) != len(wl) or not all(math.isfinite(w) for w in wl):
        raise ConfigError(f"wavelengths must be distinct finite values in nm, not {wavelengths!r}")
    return wl


def _check_averages(averages) -> int:
    if int(averages) != averages or averages < 1:
        raise ConfigError(f"averages must be a positive integer, not {averages!r}")
    return int(averages)


def configure_oa(oa, wavelengths: Sequence[float], averages: int):
    """Select the sweep and frame averaging (two bare ``set`` messages)."""
    yield from set_and_wait(oa.wavelengths, list(wavelengths))
    yield from set_and_wait(oa.averages, averages)


def multispectral_optoacoustic(
    oa: OptoacousticCamera,
    *,
    wavelengths=DEFAULT_OA_WAVELENGTHS,
    averages: int = 1,
    agent: str | None = None,
    absorbers: Sequence[str] = ("Hb", "HbO2", "water"),
    spectra: dict | None = None,
    fluence_compensation: bool = True,
    grueneisen: float = 0.2,
    roi_fraction: float = 0.5,
    md: dict | None = None,
):
    """One multispectral stack (``wavelengths`` nm, ``averages`` pulses per wavelength).

    The stack goes to ``primary``; with ``absorbers``/``agent`` the fluence-compensated
    absorption (``grueneisen``: Grueneisen parameter, dimensionless) is unmixed
    (non-negative, plus a flat background) into one map per component, sO2, and the
    agent-rich ROI (pixels above ``roi_fraction``, a fraction of the agent map's top),
    stored as one event of ``unmixed``; ROI statistics go to ``analysis``.
    ``spectra``: name -> extinction at ``wavelengths`` (overrides the scanner's library,
    e.g. a measured agent spectrum).  Returns an :class:`~.image_analysis.OAResult`.
    """
    wl = _check_wavelengths(wavelengths)
    n_avg = _check_averages(averages)
    names = [*absorbers, *([agent] if agent else [])]
    if len(set(names)) != len(names):
        raise ConfigError(f"unmixing components repeat: {names}")
    if names and len(names) + 1 > len(wl):
        raise ConfigError(
            f"{len(names) + 1} components need at least as many wavelengths, got {len(wl)}"
        )
    lib = None
    if names:
        missing = [n for n in names if not spectra or n not in spectra]
        lib = oa.spectra(missing, wl) if missing else {}
        lib.update({n: np.asarray(spectra[n], float) for n in names if spectra and n in spectra})
    out: dict = {}
    metadata = {
        "plan_name": "multispectral_optoacoustic",
        "plan_args": {
            "wavelengths": wl,
            "averages": n_avg,
            "agent": agent,
            "absorbers": list(absorbers),
            "fluence_compensation": fluence_compensation,
            "grueneisen": grueneisen,
            "roi_fraction": roi_fraction,
        },
        "detectors": [oa.name],
        **(md or {}),
    }

    def body():
        yield from configure_oa(oa, wl, n_avg)
        readings = yield from read_step([oa])
        if not names:
            out["result"] = readings[oa.stack.name]["value"]
            return
        result = analyze_oa_stack(
            readings[oa.stack.name]["value"],
            wl,
            lib,
            oa_frame_info(oa),
            agent=agent,
            fluence_compensation=fluence_compensation,
            grueneisen=grueneisen,
            roi_fraction=roi_fraction,
            fluence=readings.get(f"{oa.name}_fluence"),
        )
        yield from read_step(
            [Readout("unmixed", result.arrays(), clock=oa.clock)], stream="unmixed"
        )
        yield from save_results(Results("oa", result.scalars(), clock=oa.clock))
        out["result"] = result

    plan = bpp.stage_wrapper(body(), [oa])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: out.get("result"))


def fluorescence_timecourse(
    fluo: FluorescenceCamera,
    *,
    times_post_injection: Sequence[float],
    injection_time: float | None = None,
    roi=None,
    background_roi=None,
    md: dict | None = None,
):
    """Fluorescence images at ``times_post_injection`` (s after the injection).

    ``injection_time``: clock time (epoch s) of the injection; default: the plan's start
    (inject as the plan starts).  Between images the plan sleeps (a checkpoint first, so a
    pause resumes there).  ``roi``/``background_roi``: boolean masks or (row, col, radius)
    circles in pixels (defaults: a disc at the image centre, the outer border).  Each
    ``primary`` event holds the image and the ROI means, background means and
    tumor-to-background ratio; ``analysis`` holds them as arrays over time.
    """
    times = [float(t) for t in times_post_injection]
    if (
        not times
        or any(t < 0 or not math.isfinite(t) for t in times)
        or any(b <= a for a, b in zip(times, times[1:], strict=False))
    ):
        raise ConfigError(f"times_post_injection must be increasing times >= 0 s, not {times!r}")
    rows = {
        "time_post_injection": [],
        "roi_mean": [],
        "background_mean": [],
        "specific": [],
        "tbr": [],
        "roi_std": [],
    }
    metadata = {
        "plan_name": "fluorescence_timecourse",
        "plan_args": {"times_post_injection": times, "injection_time": injection_time},
        "detectors": [fluo.name],
        **(md or {}),
    }

    def body():
        t_inj = fluo.clock.now() if injection_time is None else float(injection_time)
        masks = None
        readouts: dict = {}
        for t_post in times:
            wait = t_inj + t_post - fluo.clock.now()
            yield Msg("checkpoint")
            if wait > 0:
                yield Msg("sleep", None, wait)
            yield Msg("create", name="primary")
            readings = yield from trigger_read([fluo])
            image = np.asarray(readings[fluo.image.name]["value"], dtype=float)
            if masks is None:
                masks = default_rois(image.shape, roi, background_roi)
            stats = _fluo_stats(image, *masks)
            stats["time_post_injection"] = time_of(readings, fluo.image) - t_inj
            for key in rows:
                rows[key].append(stats[key])
            units = {"time_post_injection": "s", "tbr": ""}
            values = {k: (stats[k], units.get(k, "counts")) for k in rows}
            yield Msg("read", Readout.reuse(readouts, "timecourse", values, clock=fluo.clock))
            yield Msg("save")
        values = {
            k: (np.asarray(v, dtype=float), "s" if k == "time_post_injection" else "")
            for k, v in rows.items()
        }
        values["roi_mask"] = (masks[0].astype(np.uint8), "")
        values["background_mask"] = (masks[1].astype(np.uint8), "")
        values["injection_time"] = (t_inj, "s")
        yield from read_step([Readout("timecourse", values, clock=fluo.clock)], stream="analysis")

    plan = bpp.stage_wrapper(body(), [fluo])
    return with_result(
        bpp.run_wrapper(plan, md=metadata), lambda: {k: np.asarray(v) for k, v in rows.items()}
    )


def _fluo_stats(image: np.ndarray, roi: np.ndarray, background: np.ndarray) -> dict:
    """ROI and background means (counts), the ROI's spread, their ratio (TBR) and their
    difference (the specific signal: the camera offset and dark current cancel)."""
    mean_roi = float(image[roi].mean())
    mean_bg = float(image[background].mean())
    return {
        "roi_mean": mean_roi,
        "roi_std": float(image[roi].std()),
        "background_mean": mean_bg,
        "specific": mean_roi - mean_bg,
        "tbr": mean_roi / mean_bg if mean_bg > 0 else math.nan,
    }


def _calibrate_with_held_out(pairs: dict):
    """Fit on every other image (from the reference on), evaluate on the others."""
    ratio, T = np.asarray(pairs["ratio"], float), np.asarray(pairs["T_probe"], float)
    fit, held = split_for_validation(ratio.size)
    cal = calibrate_oa_thermometry(ratio[fit], T[fit], T0_C=float(T[0]))
    err = held_out_errors(cal, ratio[held], T[held])
    values = {k: (float(v), "") for k, v in cal.as_dict().items()}
    values.update(
        {
            "held_out_n": (int(err.size), ""),
            "held_out_rms_C": (float(np.sqrt(np.mean(err**2))) if err.size else math.nan, "degC"),
            "held_out_max_abs_C": (float(np.max(np.abs(err))) if err.size else math.nan, "degC"),
            "held_out_bias_C": (float(np.mean(err)) if err.size else math.nan, "degC"),
        }
    )
    return cal, values


def _check_calibration_heating(amf, duration, period, roi_radius, frequency, field):
    """Validate the calibration's timing and optional heating (nothing is sent on a
    violation); the generator to heat with, or None when not heating."""
    if not duration > 0 or not period > 0 or not roi_radius > 0:
        raise ConfigError("duration, period and roi_radius must be > 0")
    if field is None:
        return None  # not heating: the generator stays untouched
    if amf is None or frequency is None:
        raise ConfigError("heating at field (kA/m) needs the amf and a frequency (Hz)")
    amf.limits.check_amf(frequency, field, where=amf.name)
    amf.check_frequency(frequency)
    return amf


def _calibration_step(oa, thermo, signal, disc, pairs: dict, readouts: dict, reference):
    """One ``primary`` event of the calibration: an image and the probe, the signal ratio
    in the ``disc`` = (probe position, radius) mm kept in ``pairs``.  The first call
    (``reference`` None) takes its image as the reference; returns the reference."""
    yield Msg("checkpoint")
    yield Msg("create", name="primary")
    readings = yield from trigger_read([oa, thermo])
    image = np.asarray(readings[oa.stack.name]["value"])[0]
    T = value_of(readings, signal)
    if reference is None:
        reference = (image, circle_roi(oa, *disc))
    ratio = signal_ratio(image, reference[0], reference[1])
    pairs["t"].append(time_of(readings, signal))
    pairs["ratio"].append(ratio)
    pairs["T_probe"].append(T)
    values = {"ratio": (ratio, ""), "T_probe": (T, "degC")}
    yield Msg("read", Readout.reuse(readouts, "thermometry", values, clock=oa.clock))
    yield Msg("save")
    return reference


def _start_open_loop_heating(amf, frequency: float, field: float):
    """Field to zero, select the tank, then the field and the output on."""
    yield from set_and_wait(amf.field, 0.0)
    yield from set_and_wait(amf.frequency, frequency)
    yield from set_and_wait(amf.field, field)
    yield from set_and_wait(amf.output, 1)


def oa_thermometry_calibration(
    oa: OptoacousticCamera,
    thermo: FiberOpticThermometer,
    amf: AMFGenerator | None = None,
    *,
    probe_position: tuple[float, float],
    channel: str = "tumor",
    roi_radius: float = 0.5,
    wavelength: float = 800.0,
    averages: int = 10,
    duration: float = 600.0,
    period: float = 10.0,
    frequency: float | None = None,
    field: float | None = None,
    md: dict | None = None,
):
    """Calibrate OA thermometry against the fiber-optic probe ``channel``.

    A reference image at ``wavelength`` nm (``averages`` pulses per image) and the probe
    temperature T0, then every ``period`` s for ``duration`` s an image and the probe: the
    signal ratio S/S0 in a disc of ``roi_radius`` mm around ``probe_position`` = (x, z) mm
    (where the fiber tip is) against the probe temperature, fitted by least squares on
    every other image; the analysis reports the accuracy on the other half
    (``held_out_rms_C``, ``held_out_max_abs_C``, ``held_out_bias_C``: OA minus probe),
    never on the fitted points alone.  With ``field`` (kA/m) and ``frequency`` (Hz) the
    generator ``amf`` heats open loop during the recording (limits checked first; off on
    every exit path); without ``field`` the tissue is warmed by other means.  Returns the
    :class:`OAThermometryCalibration`.
    """
    n_avg = _check_averages(averages)
    amf = _check_calibration_heating(amf, duration, period, roi_radius, frequency, field)
    signal = role_signal(thermo, channel)
    pairs: dict[str, list] = {"t": [], "ratio": [], "T_probe": []}
    readouts: dict = {}
    out: dict = {}
    metadata = {
        "plan_name": "oa_thermometry_calibration",
        "plan_args": {
            "channel": channel,
            "probe_position": list(probe_position),
            "roi_radius": roi_radius,
            "wavelength": wavelength,
            "averages": n_avg,
            "duration": duration,
            "period": period,
            "frequency": frequency,
            "field": field,
        },
        **(md or {}),
    }

    def step(reference):
        disc = (probe_position, roi_radius)
        return (yield from _calibration_step(oa, thermo, signal, disc, pairs, readouts, reference))

    def body():
        yield from read_step([thermo], stream="baseline")
        yield from configure_oa(oa, [wavelength], n_avg)
        reference = yield from step(None)
        if amf is not None:
            yield from _start_open_loop_heating(amf, frequency, field)
        t_end = pairs["t"][0] + duration
        while pairs["t"][-1] < t_end - 1e-6:
            yield Msg("sleep", None, period)
            yield from step(reference)
        yield from switch_off(amf)
        cal, values = _calibrate_with_held_out(pairs)
        out["calibration"] = cal
        yield from save_results(Results("oa_thermometry", values, clock=oa.clock))

    plan = bpp.finalize_wrapper(body(), switch_off(amf))
    plan = bpp.stage_wrapper(plan, [d for d in (oa, thermo, amf) if d is not None])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: out.get("calibration"))


def stream_frames(
    camera: CameraDevice,
    *,
    frames: int,
    stream: str | None = None,
    flush_period: float = 0.5,
    md: dict | None = None,
):
    """Stream ``frames`` frames from ``camera`` into the run store (no per-frame events).

    The camera's writer thread writes the frames; every ``flush_period`` s the plan emits
    StreamDatum documents for what is on disk (``stream``, default the camera's name),
    so the frame rate never depends on the RunEngine.  Returns the stream's counts.
    """
    if int(frames) != frames or frames < 1:
        raise ConfigError(f"frames must be a positive integer, not {frames!r}")
    if not flush_period > 0:
        raise ConfigError(f"flush_period must be > 0 s, not {flush_period!r}")
    name = stream or camera.name
    out: dict = {}
    metadata = {
        "plan_name": "stream_frames",
        "plan_args": {"frames": int(frames), "stream": name, "flush_period": flush_period},
        "detectors": [camera.name],
        **(md or {}),
    }

    def body():
        yield Msg("prepare", camera, {"frames": int(frames)}, group="prepare")
        yield Msg("wait", None, group="prepare")
        yield Msg("kickoff", camera, group="kickoff")
        yield Msg("wait", None, group="kickoff")
        yield Msg("declare_stream", None, camera, collect=True, name=name)
        yield Msg("complete", camera, group="complete")
        while True:
            remaining = camera.stream_remaining_s()
            if remaining <= 0:
                break
            yield Msg("checkpoint")
            yield Msg("sleep", None, min(flush_period, remaining))
            yield Msg("collect", camera, name=name)
        yield Msg("wait", None, group="complete")
        yield Msg("collect", camera, name=name)
        out.update(camera.stream_counts())

    plan = bpp.stage_wrapper(body(), [camera])
    return with_result(bpp.run_wrapper(plan, md=metadata), lambda: dict(out))
