"""Image formation from the mouse-tumor model: optoacoustic sections, fluorescence views.

Optoacoustic (PHYSICS.md section 4): a vertical cross-section through the tumor axis
(x across, 0 on the axis; z down from the skin surface), sampled on its own fine grid
from the model's geometry (tumor sphere, skin layer) and state (iron map, injected agent,
temperature field), so a 150 um image is not limited by the 0.5 mm thermal grid::

    p0(lambda) = Gamma(T) * mu_a(lambda) * Phi(lambda)        kPa = (1/cm)(mJ/cm^2)
    Gamma(T)   = water's measured beta c^2 / c_p, mixed with lipid  (grueneisen)

Phi: broad illumination of the skin (fluence per pulse E0 in mJ/cm^2) and the layered
diffusion fluence of :func:`.optics.fluence_layered` down each column.

Fluorescence (planar epi-illumination, camera above the skin): excitation fluence rate
on the thermal grid (broad beam), emitted photon density
``q = Phi_ex / (h c / lambda_ex) * mu_a,agent(lambda_ex) * QY(T) * (unbleached fraction)``,
escape of each depth layer to the surface and its lateral spread from the diffusion
Green's function of a semi-infinite medium with the extrapolated boundary
(T. J. Farrell, M. S. Patterson, B. Wilson, Med. Phys. 19 (1992) 879)::

    R(rho; z0) = 1/(4 pi) [z0 (mu + 1/r1) e^(-mu r1) / r1^2
                           + (z0 + 2 zb)(mu + 1/r2) e^(-mu r2) / r2^2]

whose surface integral, 0.5 (e^(-mu z0) + e^(-mu (z0 + 2 zb))), is the escaping fraction
(mu = mu_eff at the detected wavelength; attenuation integrated along each column).
Heating by the excitation light and by the OA laser pulses is neglected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from labctl.simulators.physics import optics

__all__ = [
    "SectionGrid",
    "CrossSection",
    "grueneisen",
    "water_grueneisen",
    "water_density",
    "water_sound_speed",
    "water_heat_capacity",
    "LIPID_GRUENEISEN",
    "fluorescence_exitance",
    "bilinear",
    "PLANCK_J_S",
    "LIGHT_M_S",
]

PLANCK_J_S = 6.62607015e-34
LIGHT_M_S = 299792458.0


def _bilinear_weights(axis: np.ndarray, q: np.ndarray):
    axis = np.asarray(axis, dtype=float)
    q = np.clip(np.asarray(q, dtype=float), axis[0], axis[-1])
    i = np.clip(np.searchsorted(axis, q) - 1, 0, max(len(axis) - 2, 0))
    if len(axis) < 2:
        return i, i, np.zeros(q.shape)
    return i, i + 1, (q - axis[i]) / (axis[i + 1] - axis[i])


def bilinear(
    y_axis: np.ndarray, x_axis: np.ndarray, values: np.ndarray, yq: np.ndarray, xq: np.ndarray
) -> np.ndarray:
    """Bilinear interpolation of ``values[y, x]`` (increasing axes) at the points
    (``yq``, ``xq``) (same shape), clamped to the axes' ends."""
    return _gather(values, _bilinear_weights(y_axis, yq), _bilinear_weights(x_axis, xq))


def _gather(values: np.ndarray, wy, wx) -> np.ndarray:
    (i0, i1, fy), (j0, j1, fx) = wy, wx
    v = np.asarray(values, dtype=float)
    return (1 - fy) * ((1 - fx) * v[i0, j0] + fx * v[i0, j1]) + fy * (
        (1 - fx) * v[i1, j0] + fx * v[i1, j1]
    )


def _fast_len(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a fast FFT length)."""
    best = 2 ** math.ceil(math.log2(max(n, 1)))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


class _Convolver:
    """Sum of linear convolutions of images with centred odd-sized kernels (same shape as
    the images), accumulated in the Fourier domain: one inverse transform in all."""

    def __init__(self, image_shape: tuple[int, int], kernel_shape: tuple[int, int]) -> None:
        self.ny, self.nx = image_shape
        self.ky, self.kx = kernel_shape
        self.shape = (_fast_len(self.ny + self.ky - 1), _fast_len(self.nx + self.kx - 1))
        self.acc = None

    def add(self, image: np.ndarray, kernel: np.ndarray) -> None:
        term = np.fft.rfft2(image, self.shape) * np.fft.rfft2(kernel, self.shape)
        self.acc = term if self.acc is None else self.acc + term

    def result(self) -> np.ndarray:
        if self.acc is None:
            return np.zeros((self.ny, self.nx))
        full = np.fft.irfft2(self.acc, self.shape)
        oy, ox = (self.ky - 1) // 2, (self.kx - 1) // 2
        return full[oy : oy + self.ny, ox : ox + self.nx]


def water_density(T_C):
    """Density of air-free water at 1 atm, kg/m^3 (Kell 1975, J. Chem. Eng. Data 20, 97)."""
    T = np.asarray(T_C, dtype=float)
    num = (
        999.83952
        + 16.945176 * T
        - 7.9870401e-3 * T**2
        - 46.170461e-6 * T**3
        + 105.56302e-9 * T**4
        - 280.54253e-12 * T**5
    )
    return num / (1.0 + 16.879850e-3 * T)


def water_sound_speed(T_C):
    """Speed of sound in water at 1 atm, m/s (Marczak 1997, J. Acoust. Soc. Am. 102, 2776)."""
    T = np.asarray(T_C, dtype=float)
    return (
        1.402385e3
        + 5.038813 * T
        - 5.799136e-2 * T**2
        + 3.287156e-4 * T**3
        - 1.398845e-6 * T**4
        + 2.787860e-9 * T**5
    )


def water_heat_capacity(T_C):
    """Isobaric specific heat of water, J/(kg K): a quartic fit to tabulated values
    (IAPWS-95, Wagner & Pruss 2002), within about 0.1 % over 10-60 C."""
    T = np.asarray(T_C, dtype=float)
    return 4217.4 - 3.720283 * T + 0.1412855 * T**2 - 2.654387e-3 * T**3 + 2.093236e-5 * T**4


def water_grueneisen(T_C):
    """Grueneisen parameter of water, beta c^2 / c_p, from measured density (beta =
    -d ln rho / dT), sound speed and heat capacity: 0.1378 (25 C), 0.2011 (37 C), 0.2295
    (43 C), 0.2386 (45 C); its slope falls from 4.9e-3 to 4.4e-3 /K over 37-45 C, not the
    constant 5.3e-3 /K of the linear law (PHYSICS.md sections 4 and 6)."""
    T = np.asarray(T_C, dtype=float)
    h = 1e-3
    beta = -(np.log(water_density(T + h)) - np.log(water_density(T - h))) / (2 * h)
    return beta * water_sound_speed(T) ** 2 / water_heat_capacity(T)


#: Grueneisen parameter of lipid (PHYSICS.md section 4: about 0.7-0.8); its temperature
#: dependence is neglected (a model)
LIPID_GRUENEISEN = 0.8


def grueneisen(T_C: np.ndarray | float, lipid_fraction: np.ndarray | float = 0.0) -> np.ndarray:
    """Grueneisen parameter of tissue: water's measured curve mixed by volume with lipid
    (``lipid_fraction`` 0-1; mixing by volume fraction is a model), dimensionless."""
    f = np.asarray(lipid_fraction, dtype=float)
    return (1.0 - f) * water_grueneisen(T_C) + f * LIPID_GRUENEISEN


@dataclass(frozen=True)
class SectionGrid:
    """Pixels of a vertical section: ``nz`` rows from the skin down, ``nx`` columns
    centred on the tumor axis, square pixels of ``pixel_m``; row 0's top edge at ``z0_m``."""

    nz: int
    nx: int
    pixel_m: float
    z0_m: float = 0.0

    def __post_init__(self) -> None:
        if self.nz < 1 or self.nx < 1 or not self.pixel_m > 0:
            raise ValueError(f"bad section grid {self.nz}x{self.nx} at {self.pixel_m} m")

    @property
    def x(self) -> np.ndarray:
        """Column centres, m (0 on the tumor axis)."""
        return (np.arange(self.nx) - (self.nx - 1) / 2.0) * self.pixel_m

    @property
    def z(self) -> np.ndarray:
        """Row centres, m below the skin surface."""
        return self.z0_m + (np.arange(self.nz) + 0.5) * self.pixel_m

    def refined(self, factor: int) -> SectionGrid:
        return SectionGrid(self.nz * factor, self.nx * factor, self.pixel_m / factor, self.z0_m)


class CrossSection:
    """Maps of a :class:`~.tumor.MouseTumor` on a :class:`SectionGrid` (geometry cached)."""

    def __init__(self, sample, grid: SectionGrid) -> None:
        self.sample = sample
        self.grid = grid
        p = sample.params
        x, z = grid.x, grid.z
        xx, zz = np.meshgrid(x, z)
        self.r = np.abs(xx)
        self.zz = zz
        h = grid.pixel_m
        d = np.hypot(xx, zz - sample.center_m)
        self.rho = d / sample.radius_m
        # area fractions with a one-pixel linear ramp across the boundaries
        self.tumor_fraction = np.clip(0.5 - (d - sample.radius_m) / h, 0.0, 1.0)
        skin = np.clip((p.skin_thickness_mm * 1e-3 - (zz - h / 2)) / h, 0.0, 1.0)
        self.skin_fraction = skin * (1.0 - self.tumor_fraction)
        g = sample.grid
        self._cell = (
            np.clip(np.searchsorted(g.z_faces, zz, side="right") - 1, 0, g.nz - 1),
            np.clip(np.searchsorted(g.r_faces, self.r, side="right") - 1, 0, g.nr - 1),
        )
        # temperature: bilinear over the cell centres, with the skin surface as row z = 0 and
        # the axis mirrored (weights depend on the geometry only)
        zs = np.concatenate([[0.0], g.z])
        rs = np.concatenate([[-g.r[0]], g.r])
        self._T_weights = (
            _bilinear_weights(zs, np.clip(zz, 0.0, g.z[-1])),
            _bilinear_weights(rs, np.clip(self.r, 0.0, g.r[-1])),
        )

    @cached_property
    def lipid_fraction(self) -> np.ndarray:
        """Lipid volume fraction of each pixel (tumor and surrounding tissue values)."""
        p, tf = self.sample.params, self.tumor_fraction
        return tf * p.lipid_fraction_tumor + (1 - tf) * p.lipid_fraction_tissue

    @cached_property
    def blood_fraction(self) -> np.ndarray:
        p, tf = self.sample.params, self.tumor_fraction
        return tf * p.blood_fraction_tumor + (1 - tf) * p.blood_fraction_tissue

    @cached_property
    def so2(self) -> np.ndarray:
        """True oxygen saturation of the blood in each pixel (blood-volume weighted)."""
        p, tf = self.sample.params, self.tumor_fraction
        hb_tumor = tf * p.blood_fraction_tumor
        hb_tissue = (1 - tf) * p.blood_fraction_tissue
        return (hb_tumor * p.so2_tumor + hb_tissue * p.so2_tissue) / (hb_tumor + hb_tissue)

    def agent(self) -> np.ndarray:
        """Injected agent concentration now (absorber unit of the agent)."""
        s = self.sample
        return s.agent.concentration_map(s.t_s, self.tumor_fraction, self.rho, self.blood_fraction)

    def absorbers(self) -> dict[str, np.ndarray]:
        """Concentration maps now, in :data:`.optics.ABSORBER_UNITS` (like ``absorber_maps``)."""
        s, p, tf = self.sample, self.sample.params, self.tumor_fraction
        c_hb = 150.0 / optics.HB_MOLAR_MASS_G_MOL  # mol/L of hemoglobin in whole blood
        blood = self.blood_fraction
        # iron: the model's concentration inside the tumor tissue of the enclosing cell
        with np.errstate(divide="ignore", invalid="ignore"):
            in_tumor = np.where(s.tumor_fraction > 1e-9, s.iron_map / s.tumor_fraction, 0.0)
        maps = {
            "HbO2": blood * self.so2 * c_hb,
            "Hb": blood * (1 - self.so2) * c_hb,
            "water": np.full(tf.shape, p.water_fraction),
            "iron_oxide": tf * in_tumor[self._cell],
            "gold_nanorod": tf * p.gold_nanorod_mg_per_mL,
            "icg": tf * p.icg_uM * 1e-6,
        }
        if s.agent.injected:
            maps[p.agent.absorber] = maps[p.agent.absorber] + self.agent()
        return maps

    def mu_a(self, wavelength_nm: float, absorbers: dict | None = None) -> np.ndarray:
        """Absorption coefficient map, 1/cm."""
        absorbers = self.absorbers() if absorbers is None else absorbers
        return optics.mu_a(wavelength_nm, absorbers) + self.sample.params.background_mu_a

    def fluence(self, wavelength_nm: float, fluence_mJ_cm2: float, mu_a=None) -> np.ndarray:
        """Fluence per pulse (mJ/cm^2) for broad illumination of E0 on the skin."""
        mua = self.mu_a(wavelength_nm) if mu_a is None else mu_a
        mus = np.full(mua.shape, optics.reduced_scattering(wavelength_nm))
        faces = self.grid.z0_m + np.arange(self.grid.nz + 1) * self.grid.pixel_m
        return optics.fluence_layered(
            faces * 100.0, mua, mus, fluence_mJ_cm2, self.sample.params.refractive_index
        )

    def temperature(self) -> np.ndarray:
        """Temperature map now, C (bilinear in the thermal grid, with the skin surface row)."""
        s = self.sample
        T = s.temperature_field()[2]
        Tz = np.vstack([s._surface_temperature(), T])
        Tz = np.hstack([Tz[:, :1], Tz])
        return _gather(Tz, *self._T_weights)

    def initial_pressure(
        self, wavelength_nm: float, fluence_mJ_cm2: float, T_C: np.ndarray | None = None
    ) -> np.ndarray:
        """p0 = Gamma(T) mu_a Phi, kPa."""
        mua = self.mu_a(wavelength_nm)
        phi = self.fluence(wavelength_nm, fluence_mJ_cm2, mu_a=mua)
        T = self.temperature() if T_C is None else T_C
        return grueneisen(T, self.lipid_fraction) * mua * phi


# -- fluorescence ---------------------------------------------------------------------------
def _farrell_kernel(
    x_m: np.ndarray, y_m: np.ndarray, z0_m: float, mu_eff_m: float, zb_m: float
) -> np.ndarray:
    """Surface flux profile of a unit isotropic source at depth z0 (Farrell et al. 1992),
    on the offsets (x, y) (m), normalised to unit sum."""
    rho2 = x_m[None, :] ** 2 + y_m[:, None] ** 2
    z0 = max(z0_m, 1e-6)
    r1 = np.sqrt(rho2 + z0**2)
    r2 = np.sqrt(rho2 + (z0 + 2 * zb_m) ** 2)
    k = (
        z0 * (mu_eff_m + 1 / r1) * np.exp(-mu_eff_m * r1) / r1**2
        + (z0 + 2 * zb_m) * (mu_eff_m + 1 / r2) * np.exp(-mu_eff_m * r2) / r2**2
    )
    return k / k.sum()


def fluorescence_exitance(
    sample,
    *,
    excitation_nm: float,
    irradiance_W_cm2: float,
    detect_nm: float,
    x_m: np.ndarray,
    y_m: np.ndarray,
    active_fraction: np.ndarray | float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Fluorescence photons leaving the skin, photons/(s cm^2), on the surface grid
    (``y_m`` rows x ``x_m`` columns, m, origin on the tumor axis), before any filter.

    ``detect_nm``: the representative detected wavelength (attenuation and spread);
    ``active_fraction``: unbleached fraction of the agent on the thermal grid [z, r].
    Returns (exitance map, excitation fluence rate [z, r] in W/cm^2).
    """
    g = sample.grid
    area_cm2 = math.pi * (g.r_faces[-1] * 100.0) ** 2  # broad beam over the whole model
    phi_ex = sample.fluence_field(excitation_nm, irradiance_W_cm2 * area_cm2, area_cm2)
    if not sample.agent.injected or irradiance_W_cm2 <= 0:
        return np.zeros((len(y_m), len(x_m))), phi_ex
    absorber = sample.params.agent.absorber
    c = sample.agent_map() * active_fraction
    mua_agent = optics.LN10 * optics.extinction(absorber, excitation_nm) * c  # 1/cm
    T = sample.temperature_field()[2]
    e_photon = PLANCK_J_S * LIGHT_M_S / (excitation_nm * 1e-9)
    q = phi_ex / e_photon * mua_agent * sample.agent.quantum_yield(T)  # photons/s/cm^3
    mua_d, mus_d = sample.optical_properties(detect_nm)
    me = optics.mu_eff(mua_d, mus_d)  # 1/cm
    dz_cm = np.diff(g.z_faces)[:, None] * 100.0
    tau = np.cumsum(me * dz_cm, axis=0) - me * dz_cm / 2.0
    # background tissue (outer column) sets the extrapolation length and the spread
    ma_bg, ms_bg = float(mua_d[0, -1]), float(mus_d[0, -1])
    me_bg = float(optics.mu_eff(ma_bg, ms_bg))
    reff = optics.effective_reflection(sample.params.refractive_index)
    zb_cm = 2.0 * (1 + reff) / (1 - reff) / (3.0 * (ma_bg + ms_bg))
    escape = 0.5 * (np.exp(-tau) + np.exp(-tau - 2.0 * zb_cm * me_bg))
    layer = q * dz_cm * escape  # photons/s per cm^2 of layer, escaping
    rr = np.hypot(x_m[None, :], y_m[:, None])
    dx = float(np.mean(np.diff(x_m))) if len(x_m) > 1 else 1e-3
    dy = float(np.mean(np.diff(y_m))) if len(y_m) > 1 else dx
    kx = np.arange(-(len(x_m) - 1), len(x_m)) * dx
    ky = np.arange(-(len(y_m) - 1), len(y_m)) * dy
    conv = _Convolver(rr.shape, (len(ky), len(kx)))
    for j in range(g.nz):
        row = layer[j]
        if not np.any(row > 0):
            continue
        src = np.interp(rr, g.r, row, right=0.0)
        k = _farrell_kernel(kx, ky, float(g.z[j]), me_bg * 100.0, zb_cm / 100.0)
        conv.add(src, k)
    return np.clip(conv.result(), 0.0, None), phi_ex
