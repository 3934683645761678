"""Simulated NIR fluorescence camera (InGaAs for NIR-II, sCMOS for NIR-I) over the mouse.

The camera looks down on the skin over the tumor (full sensor width = ``fov_mm``), with an
excitation source (``excitation_nm``, irradiance in mW/cm^2, on during exposures) and an
emission filter.  Photons leaving the skin come from :func:`..imaging.fluorescence_exitance`
(agent concentration and quantum yield QY(T) from the sample model, photobleaching by the
delivered excitation dose tracked here); the camera then counts, per pixel and exposure::

    electrons = exitance * pixel area (at the sample) * NA^2 * eta * t_exp + dark * t_exp
    eta       = integral(emission(lambda) * filter(lambda) * QE(lambda) dlambda)

(NA^2 = sin^2(theta): the fraction of a Lambertian exitance collected by the lens),
with Poisson shot noise (Gaussian approximation above 30 e-), Gaussian read noise,
saturation at the full well, an ADC bias and ``gain`` (``e_per_adu / gain`` electrons per
count) clipped to the ADC range.  Sensor defaults (PHYSICS.md section 4): InGaAs 640x512,
read noise 40 e-, dark 3000 e-/s (cooled), full well 150 ke-, 14 bit; sCMOS 2048x2048,
1.6 e-, 0.5 e-/s, 30 ke-, 16 bit.  Quantum efficiency curves are typical of each
technology (InGaAs 950-1650 nm, back-thinned silicon falling to 0 near 1100 nm).
"""

from __future__ import annotations

import math

import numpy as np

from labctl.simulators.instruments.cameras import SimCamera
from labctl.simulators.physics.imaging import bilinear, fluorescence_exitance

__all__ = ["SimFluorescenceCamera", "SENSORS", "FILTERS"]

SENSORS = {
    "InGaAs": dict(
        detector_size=(640, 512),
        pixel_um=15.0,
        read_noise_e=40.0,
        dark_e_per_s=3000.0,
        full_well_e=150e3,
        bits=14,
        readout_s=0.002,
        qe=((880, 0.0), (950, 0.6), (1000, 0.8), (1550, 0.85), (1650, 0.6), (1700, 0.0)),
    ),
    "sCMOS": dict(
        detector_size=(2048, 2048),
        pixel_um=6.5,
        read_noise_e=1.6,
        dark_e_per_s=0.5,
        full_well_e=30e3,
        bits=16,
        readout_s=0.01,
        qe=(
            (500, 0.8),
            (700, 0.65),
            (800, 0.45),
            (850, 0.35),
            (900, 0.24),
            (950, 0.13),
            (1000, 0.05),
            (1100, 0.0),
        ),
    ),
}
#: emission filters: name -> (cut-on nm, cut-off nm, in-band transmission)
FILTERS = {
    "BP840": (830.0, 850.0, 0.9),
    "LP830": (830.0, 1700.0, 0.9),
    "LP1000": (1000.0, 1700.0, 0.9),
    "LP1100": (1100.0, 1700.0, 0.9),
    "LP1300": (1300.0, 1700.0, 0.9),
}


class SimFluorescenceCamera(SimCamera):
    """Fluorescence camera simulator; the camera interface plus ``get/set_excitation``,
    ``get/set_filter``, ``get_filters`` and ``expected_electrons`` (ground truth).

    Options: ``sensor`` ("InGaAs" or "sCMOS", see :data:`SENSORS`; any of its values may
    be overridden), ``fov_mm`` (full sensor width at the sample), ``na``,
    ``excitation_nm``, ``irradiance_mW_cm2``, ``filter``, ``exposure_s``,
    ``render_interval_s`` (model seconds an optical image is reused), ``buffer_frames``.
    """

    kind = "fluorescence"
    wire = "none"
    emulator = "sim_fluorescence"
    simulation_only = True  #: renders the simulated sample: no real camera behind it

    def __init__(
        self,
        world,
        *,
        name: str = "fluo",
        sensor: str = "InGaAs",
        fov_mm: float = 20.0,
        na: float = 0.05,
        excitation_nm: float = 808.0,
        irradiance_mW_cm2: float = 50.0,
        filter: str | None = None,
        exposure_s: float = 0.02,
        render_interval_s: float = 1.0,
        buffer_frames: int = 100,
        seed: int | None = None,
        backpressure_s: float = 5.0,
        **sensor_overrides,
    ) -> None:
        if sensor not in SENSORS:
            raise ValueError(f"{name}: sensor must be one of {sorted(SENSORS)}, not {sensor!r}")
        if getattr(world.sample, "agent", None) is None:
            raise ValueError(f"{name}: the fluorescence simulator needs a mouse_tumor sample")
        spec = {**SENSORS[sensor], **sensor_overrides}
        unknown = set(sensor_overrides) - set(SENSORS[sensor])
        if unknown:
            raise ValueError(f"{name}: unknown sensor options {sorted(unknown)}")
        self.sensor = sensor
        self.spec = spec
        self.readout_s = float(spec["readout_s"])
        self._exposure = float(exposure_s)
        super().__init__(
            world,
            name=name,
            detector_size=tuple(spec["detector_size"]),
            frame_period_s=self._exposure + self.readout_s,
            buffer_frames=buffer_frames,
            seed=seed,
            backpressure_s=backpressure_s,
        )
        self._period_request = 0.0  # free running: as fast as exposure and readout allow
        if not (fov_mm > 0 and 0 < na < 1):
            raise ValueError(f"{name}: fov_mm must be > 0 and 0 < na < 1")
        self.fov_mm = float(fov_mm)
        self.na = float(na)
        self.render_interval_s = float(render_interval_s)
        self.e_per_adu = spec["full_well_e"] / (2 ** spec["bits"] - 1)
        self.bias_adu = 100.0
        self.dtype = np.dtype("uint16")
        self._excitation = (0.0, 0.0)
        self.set_excitation(excitation_nm, irradiance_mW_cm2)
        self._filter = ""
        self.set_filter(filter or ("LP1000" if sensor == "InGaAs" else "LP830"))
        g = world.sample.grid
        self._active = np.ones((g.nz, g.nr))  # unbleached agent fraction on the thermal grid
        self._cached = None
        self._electrons = None  # per-pixel mean and noise of the cached optical image

    # -- configuration -------------------------------------------------------------------
    def get_exposure(self) -> float:
        return self._exposure

    def set_exposure(self, exposure_s: float) -> float:
        if not 1e-5 <= exposure_s <= 10.0:
            raise self.Error(f"{self.name}: exposure must be 10 us - 10 s, not {exposure_s!r}")
        with self._paused():
            self._exposure = float(exposure_s)
            self._period = max(self._period_request, self._min_period())
            self._cached = None
        return self._exposure

    def _min_period(self) -> float:
        return self._exposure + self.readout_s

    def set_gain(self, gain: float) -> float:
        if not 0.1 <= gain <= 100.0:
            raise self.Error(f"{self.name}: gain must be 0.1-100, not {gain!r}")
        self._gain = float(gain)
        return self._gain

    def get_excitation(self) -> tuple[float, float]:
        """(wavelength nm, irradiance mW/cm^2 at the skin)."""
        return self._excitation

    def set_excitation(self, wavelength_nm: float, irradiance_mW_cm2: float):
        if not (600.0 <= wavelength_nm <= 1300.0 and 0.0 <= irradiance_mW_cm2 <= 2000.0):
            raise self.Error(
                f"{self.name}: excitation must be 600-1300 nm and 0-2000 mW/cm^2, "
                f"got {wavelength_nm} nm, {irradiance_mW_cm2} mW/cm^2"
            )
        current = getattr(self, "_filter", "")
        if current and FILTERS[current][0] <= wavelength_nm + 10.0:
            raise self.Error(
                f"{self.name}: filter {current} would pass {wavelength_nm:g} nm excitation light"
            )
        self._excitation = (float(wavelength_nm), float(irradiance_mW_cm2))
        self._cached = None
        return self._excitation

    def get_filters(self) -> list[str]:
        return sorted(FILTERS)

    def get_filter(self) -> str:
        return self._filter

    def set_filter(self, name: str) -> str:
        if name not in FILTERS:
            raise self.Error(f"{self.name}: no filter {name!r} (filters: {sorted(FILTERS)})")
        if FILTERS[name][0] <= self._excitation[0] + 10.0:
            raise self.Error(
                f"{self.name}: filter {name} would pass the "
                f"{self._excitation[0]:g} nm excitation light"
            )
        self._filter = name
        self._cached = None
        return name

    def detection(self) -> tuple[float, float]:
        """(eta: detected fraction of emitted photons, mean detected wavelength nm)."""
        lo, hi, t = FILTERS[self._filter]
        lam = np.linspace(600.0, 1700.0, 2201)
        qe_nm, qe = np.array(self.spec["qe"], dtype=float).T
        w = (
            self.world.sample.agent.emission_spectrum(lam)
            * np.where((lam >= lo) & (lam <= hi), t, 0.0)
            * np.interp(lam, qe_nm, qe, left=0.0, right=0.0)
        )
        eta = float(np.trapezoid(w, lam))
        mean = float(np.trapezoid(w * lam, lam) / eta) if eta > 0 else (lo + hi) / 2
        return eta, min(max(mean, 650.0), 1300.0)

    def pixel_coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) centres of the current ROI's (binned) pixels at the sample, m."""
        w, h = self._detector
        pitch = self.fov_mm * 1e-3 / w
        h0, h1, v0, v1, hb, vb = self._roi
        x = ((np.arange(h0, h1).reshape(-1, hb).mean(axis=1)) - (w - 1) / 2) * pitch
        y = ((np.arange(v0, v1).reshape(-1, vb).mean(axis=1)) - (h - 1) / 2) * pitch
        return x, y

    # -- rendering -------------------------------------------------------------------------
    def expected_electrons(self) -> np.ndarray:
        """Mean signal electrons per (binned) pixel per exposure now, without dark/noise."""
        with self.world.lock:
            self._sync()
            return self._signal_rate() * self._exposure

    def _signal_rate(self) -> np.ndarray:
        t = self.world.sample.t_s
        key = (self._roi, self._excitation, self._filter)
        if (
            self._cached is not None
            and self._cached[0] == key
            and abs(t - self._cached[1]) < self.render_interval_s
        ):
            return self._cached[2]
        x, y = self.pixel_coordinates()
        eta, detect_nm = self.detection()
        lam_ex, irr = self._excitation
        # optics on a working grid no finer than 0.2 mm, then onto the pixels
        n_x = int(min(len(x), max(16, (x[-1] - x[0]) / 2e-4 + 1)))
        n_y = int(min(len(y), max(16, (y[-1] - y[0]) / 2e-4 + 1)))
        xw = np.linspace(x[0], x[-1], n_x) if len(x) > 1 else x
        yw = np.linspace(y[0], y[-1], n_y) if len(y) > 1 else y
        exitance, phi = fluorescence_exitance(
            self.world.sample,
            excitation_nm=lam_ex,
            irradiance_W_cm2=irr * 1e-3,
            detect_nm=detect_nm,
            x_m=xw,
            y_m=yw,
            active_fraction=self._active,
        )
        if len(xw) != len(x) or len(yw) != len(y):
            yy, xx = np.meshgrid(y, x, indexing="ij")
            exitance = bilinear(yw, xw, exitance, yy, xx)
        w = self._detector[0]
        pixel_cm = self.fov_mm / 10.0 / w
        _, _, _, _, hb, vb = self._roi
        rate = np.clip(exitance, 0, None) * pixel_cm**2 * hb * vb * self.na**2 * eta
        self._cached = (key, t, rate, phi)
        return rate

    def _render(self, index: int) -> tuple[np.ndarray, dict]:
        spec = self.spec
        with self.world.lock:
            self._sync()
            rate = self._signal_rate()
            phi = self._cached[3]
            # photobleaching by this exposure's excitation dose (J/cm^2)
            sigma = self.world.sample.params.agent.bleaching_cm2_per_J
            if sigma > 0 and self._excitation[1] > 0:
                self._active *= np.exp(-sigma * phi * self._exposure)
        _, _, _, _, hb, vb = self._roi
        key = (id(rate), self._exposure, self._roi)
        if self._electrons is None or self._electrons[0] != key:
            mean = rate * self._exposure + spec["dark_e_per_s"] * hb * vb * self._exposure
            read_e = spec["read_noise_e"] * math.sqrt(hb * vb)
            mean = mean.astype(np.float32)
            low = mean < 30.0  # exact Poisson there: the Gaussian approximation is poor
            self._electrons = (key, mean, np.sqrt(mean + np.float32(read_e**2)), low, read_e)
        _, mean, sd, low, read_e = self._electrons
        frame = self._count(mean, sd, low, read_e, spec["full_well_e"] * hb * vb)
        return frame, {
            "exposure_s": self._exposure,
            "excitation_nm": self._excitation[0],
            "irradiance_mW_cm2": self._excitation[1],
            "filter": self._filter,
        }

    def _count(
        self, mean_e: np.ndarray, sd_e: np.ndarray, low: np.ndarray, read_e: float, full_well: float
    ) -> np.ndarray:
        """Electrons -> counts: shot noise (Gaussian with variance = mean, Poisson where
        ``low``) and read noise, full well, gain, bias, rounding, ADC range."""
        e = self.rng.standard_normal(mean_e.shape, dtype=np.float32)
        e *= sd_e
        e += mean_e
        if low.any():
            e[low] = self.rng.poisson(mean_e[low]).astype(np.float32) + np.float32(
                read_e
            ) * self.rng.standard_normal(int(low.sum()), dtype=np.float32)
        np.clip(e, 0.0, full_well, out=e)
        e *= np.float32(self._gain / self.e_per_adu)
        e += np.float32(self.bias_adu + 0.5)  # + 0.5: truncation below rounds to nearest
        np.minimum(e, np.float32(2 ** self.spec["bits"] - 1), out=e)
        return e.astype(np.uint16)

    def _acquisition_started(self) -> None:
        self._cached = None
