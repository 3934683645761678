"""Multispectral optoacoustic analysis: fluence compensation, unmixing, sO2, ROIs.

Linear spectral unmixing (PHYSICS.md section 4): per pixel, the absorption spectrum is a
non-negative sum of known component spectra,
``mu_a(lambda) = sum_k ln(10) eps_k(lambda) c_k (+ a flat background)``, solved by
non-negative least squares for every pixel at once (exact: every active set of the few
components is solved in one matrix product and each pixel keeps its best feasible one,
which is the NNLS optimum; C. L. Lawson, R. J. Hanson, Solving Least Squares Problems,
1974, ch. 23).  ``sO2 = HbO2 / (Hb + HbO2)``.

Uncertainty: each pixel's noise is estimated from its fit residual,
``s^2 = RSS / (n_wavelengths - n_components)``, and the covariance of the
(unconstrained) least-squares estimate is ``s^2 (A^T A)^-1`` (ordinary least squares;
e.g. Lawson & Hanson 1974, ch. 1); sO2's standard uncertainty follows by first-order
propagation (:meth:`Unmixed.so2_std`).  Nearly collinear spectra (a featureless agent
beside a flat background) make ``(A^T A)^-1`` large: :func:`spectral_condition` says how
much, and :func:`background_is_identifiable` whether a flat term can be fitted beside
the given spectra.

Optoacoustic images are ``p0 = Gamma mu_a Phi``; the fluence Phi falls with depth and
differently at each wavelength ("spectral colouring"), so unmixing raw images biases sO2
at depth.  :func:`absorption_from_p0` estimates mu_a with the fixed-point iteration of
B. T. Cox, S. R. Arridge, K. P. Koestli, P. C. Beard, Appl. Opt. 45 (2006) 1866:
``mu_a <- p0 / (Gamma Phi(mu_a))``, Phi from the diffusion approximation for broad
illumination down each image column (collimated beam + diffuse term with the extrapolated
boundary: R. A. J. Groenhuis et al., Appl. Opt. 22 (1983) 2456; R. C. Haskell et al.,
JOSA A 11 (1994) 2727).  It needs the reduced scattering (e.g. the power law
``mu_s' = a (lambda / 500 nm)^-b``, S. L. Jacques, Phys. Med. Biol. 58 (2013) R37), the
surface fluence and the Grueneisen parameter.

Units: wavelengths nm, lengths cm, mu_a/mu_s' 1/cm, fluence mJ/cm^2, p0 kPa
(kPa = (1/cm)(mJ/cm^2)); concentrations in the unit the spectra are given per.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

__all__ = [
    "Unmixed",
    "unmix_spectra",
    "so2",
    "spectral_condition",
    "background_is_identifiable",
    "roi_stats",
    "threshold_roi",
    "circle_mask",
    "reduced_scattering",
    "diffuse_fluence",
    "absorption_from_p0",
]

LN10 = math.log(10.0)


@dataclass
class Unmixed:
    """Component maps (``maps[name]``, shape of one image), the relative residual map,
    the component names in order (``"background"`` last when fitted), the per-pixel
    noise estimate ``noise`` (unit of the stack) and ``cov_unit`` = (A^T A)^-1 (the
    estimate's covariance is ``noise**2 * cov_unit``)."""

    maps: dict[str, np.ndarray]
    residual: np.ndarray
    names: list[str] = field(default_factory=list)
    noise: np.ndarray | None = None
    cov_unit: np.ndarray | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        return self.maps[name]

    def so2(self, min_total: float | None = None) -> np.ndarray:
        """sO2 map from the ``Hb`` and ``HbO2`` components."""
        return so2(self.maps["Hb"], self.maps["HbO2"], min_total=min_total)

    def std(self, name: str) -> np.ndarray:
        """Standard uncertainty map of component ``name`` (its unit)."""
        i = self.names.index(name)
        return self.noise * math.sqrt(self.cov_unit[i, i])

    def so2_std(self) -> np.ndarray:
        """Standard uncertainty of sO2 per pixel (first-order propagation of the Hb and
        HbO2 covariance); NaN where Hb + HbO2 <= 0."""
        i, j = self.names.index("Hb"), self.names.index("HbO2")
        hb, hbo2 = self.maps["Hb"], self.maps["HbO2"]
        total = hb + hbo2
        with np.errstate(divide="ignore", invalid="ignore"):
            g_hb, g_hbo2 = -hbo2 / total**2, hb / total**2
            c = self.cov_unit
            var = g_hb**2 * c[i, i] + 2 * g_hb * g_hbo2 * c[i, j] + g_hbo2**2 * c[j, j]
            return np.where(total > 0, self.noise * np.sqrt(np.maximum(var, 0.0)), np.nan)


def spectral_condition(
    spectra: Mapping[str, Sequence[float]], *, background: bool = False
) -> float:
    """Condition number of the unmixing matrix with unit-norm columns (1 = orthogonal
    spectra; the noise gain of the worst-determined combination grows with it)."""
    cols = [np.asarray(v, dtype=float).reshape(-1) for v in spectra.values()]
    if background:
        cols.append(np.ones(cols[0].size))
    A = np.stack(cols, axis=1)
    return float(np.linalg.cond(A / np.linalg.norm(A, axis=0)))


def background_is_identifiable(
    spectra: Mapping[str, Sequence[float]], *, max_condition: float = 50.0
) -> bool:
    """Whether a flat background term can be fitted beside ``spectra``: False when the
    condition number with it exceeds ``max_condition`` (a featureless spectrum, e.g. iron
    oxide's, is then nearly collinear with the flat term: 680-980 nm, Hb + HbO2 + water
    give 18, with ICG 26, with iron oxide 209).  The threshold is this module's choice,
    not a documented value."""
    return spectral_condition(spectra, background=True) <= max_condition


def _matrix(
    spectra: Mapping[str, Sequence[float]], n_wl: int, background: bool, decadic: bool
) -> tuple[np.ndarray, list[str]]:
    names = list(spectra)
    cols = []
    for name in names:
        s = np.asarray(spectra[name], dtype=float).reshape(-1)
        if s.shape != (n_wl,):
            raise ValueError(f"spectrum {name!r} has {s.size} values for {n_wl} wavelengths")
        cols.append(s * (LN10 if decadic else 1.0))
    if background:
        names.append("background")
        cols.append(np.ones(n_wl))
    A = np.stack(cols, axis=1)
    if A.shape[1] > n_wl:
        raise ValueError(f"{A.shape[1]} components cannot be unmixed from {n_wl} wavelengths")
    if np.linalg.matrix_rank(A) < A.shape[1]:
        raise ValueError(f"the spectra of {names} are linearly dependent at these wavelengths")
    return A, names


def unmix_spectra(
    stack: np.ndarray,
    spectra: Mapping[str, Sequence[float]],
    *,
    background: bool = False,
    nonnegative: bool = True,
    decadic: bool = True,
    mask: np.ndarray | None = None,
    model_error: float = 0.0,
) -> Unmixed:
    """Per-pixel (non-negative) least-squares unmixing of ``stack`` (wavelengths first).

    ``spectra``: name -> extinction at each wavelength (decadic, per concentration unit,
    as tabulated; ``decadic=False`` for natural absorption coefficients); the model is
    ``stack = ln(10) sum_k eps_k c_k`` (+ ``background``: a flat offset in 1/cm).
    ``mask``: unmix only these pixels (the others are NaN).  ``model_error``: relative
    error of the data model (fluence compensation, spectral library) added in
    quadrature to the residual-based noise, as a fraction of the pixel's RMS signal.
    """
    y = np.asarray(stack, dtype=float)
    n_wl = y.shape[0]
    shape = y.shape[1:]
    A, names = _matrix(spectra, n_wl, background, decadic)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool)
        out = unmix_spectra(
            y[:, keep],
            spectra,
            background=background,
            nonnegative=nonnegative,
            decadic=decadic,
            model_error=model_error,
        )
        maps = {}
        for name in names:
            maps[name] = np.full(shape, np.nan)
            maps[name][keep] = out.maps[name]
        residual, noise = np.full(shape, np.nan), np.full(shape, np.nan)
        residual[keep], noise[keep] = out.residual, out.noise
        return Unmixed(maps, residual, names, noise, out.cov_unit)
    Y = y.reshape(n_wl, -1)
    k = A.shape[1]
    best = np.linalg.pinv(A) @ Y
    if nonnegative and np.any(best < 0):
        bad = np.flatnonzero(np.any(best < 0, axis=0))
        Yb = Y[:, bad]
        cb = np.zeros((k, bad.size))
        best_res = np.sum(Yb**2, axis=0)  # all-zero is always feasible
        for size in range(k - 1, 0, -1):
            for subset in itertools.combinations(range(k), size):
                sub = list(subset)
                c = np.linalg.pinv(A[:, sub]) @ Yb
                res = np.sum((A[:, sub] @ c - Yb) ** 2, axis=0)
                better = np.all(c >= 0, axis=0) & (res < best_res)
                if better.any():
                    cb[:, better] = 0.0
                    cb[np.ix_(sub, np.flatnonzero(better))] = c[:, better]
                    best_res[better] = res[better]
        best[:, bad] = cb
    rnorm = np.linalg.norm(A @ best - Y, axis=0)
    res = rnorm / np.maximum(np.linalg.norm(Y, axis=0), 1e-300)
    noise = rnorm / math.sqrt(max(n_wl - k, 1))
    if model_error:
        rms = np.linalg.norm(Y, axis=0) / math.sqrt(n_wl)
        noise = np.hypot(noise, model_error * rms)
    maps = {name: best[i].reshape(shape) for i, name in enumerate(names)}
    cov_unit = np.linalg.inv(A.T @ A)
    return Unmixed(maps, res.reshape(shape), names, noise.reshape(shape), cov_unit)


def so2(hb: np.ndarray, hbo2: np.ndarray, min_total: float | None = None) -> np.ndarray:
    """HbO2 / (Hb + HbO2); NaN where the total is <= ``min_total`` (default: 0)."""
    hb, hbo2 = np.asarray(hb, dtype=float), np.asarray(hbo2, dtype=float)
    total = hb + hbo2
    limit = 0.0 if min_total is None else min_total
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > limit, hbo2 / total, np.nan)


def roi_stats(image: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Statistics of ``image`` inside ``mask`` (NaN pixels ignored): n, mean, std, median,
    min, max, sum (``n`` = 0 and NaN values for an empty ROI)."""
    values = np.asarray(image, dtype=float)[np.asarray(mask, dtype=bool)]
    values = values[np.isfinite(values)]
    if values.size == 0:
        nan = math.nan
        return {"n": 0, "mean": nan, "std": nan, "median": nan, "min": nan, "max": nan, "sum": 0.0}
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
        "median": float(np.median(values)),
        "min": float(values.min()),
        "max": float(values.max()),
        "sum": float(values.sum()),
    }


def threshold_roi(
    image: np.ndarray,
    fraction: float = 0.5,
    *,
    smooth_px: float = 1.0,
    largest: bool = True,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Pixels above ``fraction`` of the (smoothed) image's 99.5th percentile; with
    ``largest`` only the biggest connected region (e.g. the agent-rich tumor region)."""
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), not {fraction!r}")
    img = np.nan_to_num(np.asarray(image, dtype=float))
    if smooth_px > 0:
        img = ndimage.gaussian_filter(img, smooth_px)
    where = np.ones(img.shape, bool) if mask is None else np.asarray(mask, bool)
    if not where.any():
        return np.zeros(img.shape, bool)
    top = np.percentile(img[where], 99.5)
    roi = where & (img >= fraction * top) & (top > 0)
    if largest and roi.any():
        labels, n = ndimage.label(roi)
        sizes = ndimage.sum(roi, labels, index=np.arange(1, n + 1))
        roi = labels == (1 + int(np.argmax(sizes)))
    return roi


def circle_mask(
    x: np.ndarray, z: np.ndarray, center: tuple[float, float], radius: float
) -> np.ndarray:
    """Mask (rows = ``z``, columns = ``x``) of the pixels within ``radius`` of
    ``center`` = (x, z), all in the same unit."""
    xx, zz = np.meshgrid(np.asarray(x, float), np.asarray(z, float))
    return np.hypot(xx - center[0], zz - center[1]) <= radius


# -- fluence compensation ----------------------------------------------------------------
def reduced_scattering(wavelength_nm, a_per_cm: float = 18.6, b: float = 1.3) -> np.ndarray:
    """mu_s' = a (lambda / 500 nm)^-b, 1/cm (Jacques 2013 power law; soft tissue)."""
    return a_per_cm * (np.asarray(wavelength_nm, dtype=float) / 500.0) ** (-b)


def _boundary_coefficients(ma: np.ndarray, ms: np.ndarray, n: float):
    """(c_coll, k_b) of Phi/E0 = c_coll exp(-mu_t' z) + k_b exp(-mu_eff z)."""
    mt = ma + ms
    me = np.sqrt(3.0 * ma * mt)
    denom = ma - mt / 3.0
    denom = np.where(np.abs(denom) < 1e-9 * mt, 1e-9 * mt, denom)
    alpha = ms / denom
    reff = -1.440 / n**2 + 0.710 / n + 0.668 + 0.0636 * n
    A = (1.0 + reff) / (1.0 - reff)
    D = 1.0 / (3.0 * mt)
    k_b = -alpha * (1.0 + 2.0 * A * D * mt) / (1.0 + 2.0 * A * D * me)
    return 1.0 + alpha, k_b


def diffuse_fluence(
    mu_a: np.ndarray,
    mu_s_prime: float | np.ndarray,
    pixel_cm: float,
    surface_fluence: float = 1.0,
    *,
    z_top_cm: float = 0.0,
    n: float = 1.37,
) -> np.ndarray:
    """Fluence (unit of ``surface_fluence``) at the pixel centres of ``mu_a`` (rows = depth,
    row 0's top edge ``z_top_cm`` below the illuminated surface) for broad illumination:
    attenuation integrated down each column, boundary coefficients from the top row."""
    ma = np.clip(np.asarray(mu_a, dtype=float), 1e-6, None)
    ms = np.broadcast_to(np.asarray(mu_s_prime, dtype=float), ma.shape)
    me = np.sqrt(3.0 * ma * (ma + ms))
    mt = ma + ms

    def depth(mu: np.ndarray) -> np.ndarray:
        above = np.cumsum(mu, axis=0) * pixel_cm - mu * pixel_cm
        # layers above row 0 are taken to be like row 0
        return above + mu * pixel_cm / 2.0 + mu[:1] * z_top_cm

    c, k_b = _boundary_coefficients(ma[0], ms[0], n)
    return surface_fluence * (c * np.exp(-depth(mt)) + k_b * np.exp(-depth(me)))


def absorption_from_p0(
    p0: np.ndarray,
    wavelengths_nm: Sequence[float],
    *,
    pixel_cm: float,
    surface_fluence: float | Sequence[float],
    grueneisen: float | np.ndarray = 0.2,
    mu_s_prime: Sequence[float] | None = None,
    z_top_cm: float = 0.0,
    n: float = 1.37,
    iterations: int = 50,
    tolerance: float = 1e-3,
    smooth_px: float = 1.0,
    mu_a_max: float = 50.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Absorption stack from an initial-pressure stack (wavelengths, rows = depth, cols).

    Fixed-point iteration ``mu_a = p0 / (Gamma Phi(mu_a))`` (Cox et al. 2006), the fluence
    computed from a slightly smoothed ``mu_a`` (``smooth_px``, Gaussian sigma in pixels)
    so noise does not feed the attenuation; stops when 99 % of the fluence values change by
    less than ``tolerance`` of the surface fluence.  Deep, dark pixels are unreliable
    (check the returned fluence).  Returns (mu_a 1/cm, fluence) stacks.
    """
    p = np.asarray(p0, dtype=float)
    wl = np.asarray(wavelengths_nm, dtype=float)
    if p.ndim != 3 or p.shape[0] != wl.size:
        raise ValueError(f"p0 must be (wavelengths, rows, cols) for {wl.size} wavelengths")
    mus = reduced_scattering(wl) if mu_s_prime is None else np.asarray(mu_s_prime, float)
    e0 = np.broadcast_to(np.asarray(surface_fluence, dtype=float), wl.shape)
    gamma = np.asarray(grueneisen, dtype=float)
    est = np.full(p.shape, 0.2)
    mus3 = mus[:, None, None] * np.ones(p.shape[1:])
    phi_old = None
    for _ in range(max(int(iterations), 1)):
        smooth = ndimage.gaussian_filter(est, (0, smooth_px, smooth_px)) if smooth_px > 0 else est
        phi = diffuse_fluence(
            np.moveaxis(smooth, 0, 1),
            np.moveaxis(mus3, 0, 1),
            pixel_cm,
            e0[None, :, None],
            z_top_cm=z_top_cm,
            n=n,
        )
        phi = np.moveaxis(phi, 1, 0)
        est = np.clip(p / (gamma * np.maximum(phi, 1e-12)), 0.0, mu_a_max)
        # converged when the fluence stops moving (relative to the surface fluence) in 99 %
        # of the pixels: deep in the image (mu_eff z >~ 2) the iteration does not contract
        # (Cox et al. 2006) and those dark pixels never settle
        if phi_old is not None:
            change = np.abs(phi - phi_old) / e0[:, None, None]
            if np.percentile(change, 99) < tolerance:
                break
        phi_old = phi
    return est, phi
