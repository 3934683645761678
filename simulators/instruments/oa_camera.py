"""Simulated multispectral optoacoustic tomograph (MSOT-like) on the mouse-tumor model.

One laser pulse per frame at ``pulse_rate_Hz`` (10 Hz), the wavelength stepping through
the configured sweep pulse by pulse (frame k at ``wavelengths[k % n]``); each frame is a
reconstructed cross-section through the tumor axis: the initial pressure
``p0 = Gamma(T) mu_a(lambda) Phi(lambda)`` (:mod:`..imaging`), rendered on a grid
``oversample`` times finer than the image, blurred by a Gaussian point-spread function
of ``psf_fwhm_mm``, binned to the image pixels, plus white noise of ``noise_kPa`` per
pulse (frame averaging is up to the host).  Frames are float32 in kPa; column 0 and row 0
are at ``x = -(nx-1)/2 * pixel`` and ``z = pixel/2`` below the skin (``geometry()``).
Pulse energy is normalised out (the fluence on the skin is ``fluence_mJ_cm2``).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from labctl.simulators.instruments.cameras import SimCamera
from labctl.simulators.physics import optics
from labctl.simulators.physics.imaging import CrossSection, SectionGrid, grueneisen

__all__ = ["SimMSOT", "OA_WAVELENGTH_RANGE_NM"]

OA_WAVELENGTH_RANGE_NM = (680.0, 980.0)


class SimMSOT(SimCamera):
    """Optoacoustic camera simulator; implements the camera interface plus
    ``get/set_wavelengths``, ``get_pulse_rate``, ``geometry``, ``spectra`` and ``truth``.

    Options: ``shape`` (rows, cols) of the full image, ``pixel_mm``, ``pulse_rate_Hz``,
    ``wavelengths`` (nm, the sweep), ``fluence_mJ_cm2`` (per pulse, on the skin),
    ``psf_fwhm_mm``, ``noise_kPa`` (per pulse), ``oversample``, ``buffer_frames``,
    ``agent_refresh_s`` (how long absorber maps are reused, model seconds), ``seed``.
    """

    kind = "optoacoustic"
    wire = "none"
    emulator = "sim_msot"
    simulation_only = True  #: renders the simulated sample: no real scanner behind it

    dtype = np.dtype("float32")

    def __init__(
        self,
        world,
        *,
        name: str = "oa",
        shape: tuple[int, int] = (128, 128),
        pixel_mm: float = 0.15,
        pulse_rate_Hz: float = 10.0,
        wavelengths: list[float] | tuple[float, ...] = (800.0,),
        fluence_mJ_cm2: float = 15.0,
        psf_fwhm_mm: float = 0.15,
        noise_kPa: float = 0.05,
        oversample: int = 2,
        buffer_frames: int = 200,
        agent_refresh_s: float = 60.0,
        seed: int | None = None,
        backpressure_s: float = 5.0,
    ) -> None:
        if getattr(world.sample, "agent", None) is None:
            raise ValueError(f"{name}: the optoacoustic simulator needs a mouse_tumor sample")
        rows, cols = int(shape[0]), int(shape[1])
        super().__init__(
            world,
            name=name,
            detector_size=(cols, rows),
            frame_period_s=1.0 / float(pulse_rate_Hz),
            buffer_frames=buffer_frames,
            seed=seed,
            backpressure_s=backpressure_s,
        )
        if not (fluence_mJ_cm2 > 0 and psf_fwhm_mm >= 0 and noise_kPa >= 0 and pixel_mm > 0):
            raise ValueError(f"{name}: fluence, pixel must be > 0; PSF and noise >= 0")
        self.pixel_mm = float(pixel_mm)
        self.fluence_mJ_cm2 = float(fluence_mJ_cm2)
        self.psf_fwhm_mm = float(psf_fwhm_mm)
        self.noise_kPa = float(noise_kPa)
        self.oversample = max(int(oversample), 1)
        self.agent_refresh_s = float(agent_refresh_s)
        self.grid = SectionGrid(rows, cols, self.pixel_mm * 1e-3)
        self._section = CrossSection(world.sample, self.grid.refined(self.oversample))
        # temperature varies on the 0.5 mm thermal grid: sampled at the image pixels
        self._pixels = CrossSection(world.sample, self.grid)
        self._cache: dict = {}
        self._wavelengths: tuple[float, ...] = ()
        self.set_wavelengths(wavelengths)

    # -- configuration -------------------------------------------------------------------
    def get_wavelengths(self) -> list[float]:
        return list(self._wavelengths)

    def set_wavelengths(self, wavelengths) -> list[float]:
        wl = tuple(float(w) for w in np.atleast_1d(np.asarray(wavelengths, dtype=float)))
        lo, hi = OA_WAVELENGTH_RANGE_NM
        if not wl or any(not lo <= w <= hi for w in wl):
            raise self.Error(f"{self.name}: wavelengths must be within {lo:g}-{hi:g} nm, got {wl}")
        with self._paused():
            self._wavelengths = wl
        return list(wl)

    def get_pulse_rate(self) -> float:
        return 1.0 / self._period

    def get_exposure(self) -> float:
        """The laser pulse width, s (not adjustable)."""
        return 1e-8

    def set_exposure(self, exposure_s: float) -> float:
        raise self.Error(
            f"{self.name}: an optoacoustic frame is one laser pulse; its exposure is not adjustable"
        )

    def set_frame_period(self, period_s: float) -> float:
        raise self.Error(
            f"{self.name}: the pulse rate is fixed by the laser ({self.get_pulse_rate():g} Hz)"
        )

    def geometry(self) -> dict:
        """Pixel size and the position of pixel (0, 0) of the current ROI, mm."""
        h0, _, v0, _, hb, vb = self._roi
        x, z = self.grid.x * 1e3, self.grid.z * 1e3
        return {
            "pixel_mm": self.pixel_mm * hb,
            "pixel_z_mm": self.pixel_mm * vb,
            "x0_mm": float(x[h0 : h0 + hb].mean()),
            "z0_mm": float(z[v0 : v0 + vb].mean()),
        }

    def spectra(self, wavelengths_nm, names=("Hb", "HbO2")) -> dict[str, np.ndarray]:
        """The scanner's spectral library: decadic extinction of each absorber (1/cm per
        unit of :data:`~labctl.simulators.physics.optics.ABSORBER_UNITS`) at the wavelengths."""
        lam = np.asarray(wavelengths_nm, dtype=float)
        return {
            n: np.asarray(optics.extinction(n, lam), dtype=float) * np.ones(lam.shape)
            for n in names
        }

    def spectra_units(self, names=("Hb", "HbO2")) -> dict[str, str]:
        return {n: optics.ABSORBER_UNITS[n] for n in names}

    # -- rendering -----------------------------------------------------------------------
    def _mu_a_phi(self, wavelength_nm: float) -> np.ndarray:
        """mu_a * Phi on the fine grid (kPa per unit Grueneisen), cached while the absorbers
        are unchanged (agent kinetics are slow: reused for ``agent_refresh_s``)."""
        s = self.world.sample
        key = (
            wavelength_nm,
            id(s.iron_map),
            len(s.agent.injections),
            round(s.t_s / self.agent_refresh_s) if s.agent.injected else 0,
        )
        hit = self._cache.get(wavelength_nm)
        if hit is not None and hit[0] == key:
            return hit[1]
        mua = self._section.mu_a(wavelength_nm)
        value = mua * self._section.fluence(wavelength_nm, self.fluence_mJ_cm2, mu_a=mua)
        self._cache[wavelength_nm] = (key, value)
        return value

    def _to_image(self, fine: np.ndarray, blur: bool = True) -> np.ndarray:
        k = self.oversample
        if blur and self.psf_fwhm_mm > 0:
            sigma = self.psf_fwhm_mm / 2.3548 / (self.pixel_mm / k)
            fine = gaussian_filter(fine, sigma, mode="nearest")
        rows, cols = self.grid.nz, self.grid.nx
        img = fine.reshape(rows, k, cols, k).mean(axis=(1, 3))
        h0, h1, v0, v1, hb, vb = self._roi
        img = img[v0:v1, h0:h1]
        return img.reshape((v1 - v0) // vb, vb, (h1 - h0) // hb, hb).mean(axis=(1, 3))

    def _render(self, index: int) -> tuple[np.ndarray, dict]:
        wl = self._wavelengths[index % len(self._wavelengths)]
        with self.world.lock:
            self._sync()
            k = self.oversample
            gamma = grueneisen(self._pixels.temperature())
            p0 = np.repeat(np.repeat(gamma, k, axis=0), k, axis=1) * self._mu_a_phi(wl)
        img = self._to_image(p0)
        if self.noise_kPa > 0:
            img = img + self.noise_kPa * self.rng.standard_normal(img.shape)
        return img.astype(np.float32), {"wavelength_nm": wl, "fluence_mJ_cm2": self.fluence_mJ_cm2}

    # -- ground truth --------------------------------------------------------------------
    def truth(self) -> dict[str, np.ndarray]:
        """True maps now on the image pixels (current ROI): absorbers (their units),
        ``agent`` (injected agent only), ``sO2``, ``T_C``, ``tumor`` (area fraction) and
        ``blood_fraction``."""
        with self.world.lock:
            self._sync()
            cs = self._section
            out = {k: self._to_image(v, blur=False) for k, v in cs.absorbers().items()}
            out["agent"] = self._to_image(cs.agent(), blur=False)
            out["T_C"] = self._to_image(
                np.repeat(
                    np.repeat(self._pixels.temperature(), self.oversample, 0), self.oversample, 1
                ),
                blur=False,
            )
        out["tumor"] = self._to_image(cs.tumor_fraction, blur=False)
        out["blood_fraction"] = self._to_image(cs.blood_fraction, blur=False)
        hb, hbo2 = out["Hb"], out["HbO2"]
        out["sO2"] = np.where(hb + hbo2 > 0, hbo2 / np.where(hb + hbo2 > 0, hb + hbo2, 1), 0)
        return out
