"""Pennes bioheat equation on a 2-D axisymmetric (r, z) finite-volume grid.

    rho c dT/dt = div(k grad T) + w_b rho_b c_b (T_a - T) + Q

H. H. Pennes, J. Appl. Physiol. 1 (1948) 93-122.  Cell-centred finite volumes
(S. V. Patankar, Numerical Heat Transfer and Fluid Flow, 1980): face conductances with
the harmonic mean of k, cell volumes pi (r_o^2 - r_i^2) dz.  Optionally one lumped node
(the body core) that supplies the arterial temperature T_a, receives the perfusion
return and the heat through the bottom boundary, and exchanges heat with a reference
temperature through a conductance (thermoregulation / environment).

The system is linear in T for fixed inputs: ``C dx/dt = -A x + b + s`` with ``x`` the cell
temperatures (z-major, r fastest) followed by the core node.  Time stepping is TR-BDF2
(second order, L-stable: no ringing after a source switches on), with the symmetric
positive definite matrix ``C/h' + A`` factorized once per step size and cached; the
steady state uses SuperLU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.linalg import lapack

__all__ = ["AxiGrid", "graded_faces", "Boundary", "CoreNode", "PennesSolver"]

_GAMMA = 2.0 - math.sqrt(2.0)  #: TR-BDF2 stage fraction
_BDF_A = 1.0 / (_GAMMA * (2.0 - _GAMMA))
_BDF_C = (1.0 - _GAMMA) ** 2 / (_GAMMA * (2.0 - _GAMMA))


def graded_faces(length_m: float, step_m: float, fine_m: float, growth: float = 1.3) -> np.ndarray:
    """Cell faces 0..length: uniform ``step_m`` up to ``fine_m``, then growing by ``growth``."""
    n_fine = max(1, round(fine_m / step_m))
    faces = list(np.linspace(0.0, n_fine * step_m, n_fine + 1))
    h = step_m
    while faces[-1] < length_m - 1e-12:
        h *= growth
        if faces[-1] + 1.5 * h >= length_m:  # merge a thin last cell
            faces.append(length_m)
        else:
            faces.append(faces[-1] + h)
    faces[-1] = length_m
    return np.asarray(faces)


@dataclass(frozen=True)
class AxiGrid:
    """Axisymmetric grid from face coordinates (m); arrays are indexed [z, r]."""

    r_faces: np.ndarray
    z_faces: np.ndarray

    @property
    def nr(self) -> int:
        return len(self.r_faces) - 1

    @property
    def nz(self) -> int:
        return len(self.z_faces) - 1

    @property
    def r(self) -> np.ndarray:
        """Cell centres in r (m); the axis cell's centre is at half its width."""
        return 0.5 * (self.r_faces[:-1] + self.r_faces[1:])

    @property
    def z(self) -> np.ndarray:
        return 0.5 * (self.z_faces[:-1] + self.z_faces[1:])

    @property
    def ring_area(self) -> np.ndarray:
        """Axial face area of each radial ring, pi (r_o^2 - r_i^2), m^2 (nr,)."""
        return math.pi * np.diff(self.r_faces**2)

    @property
    def volume(self) -> np.ndarray:
        """Cell volumes, m^3 (nz, nr)."""
        return np.outer(np.diff(self.z_faces), self.ring_area)

    def fraction_inside_sphere(
        self, z_center_m: float, radius_m: float, sub: int = 6
    ) -> np.ndarray:
        """Volume fraction of each cell inside a sphere centred on the axis (nz, nr)."""
        u = (np.arange(sub) + 0.5) / sub
        frac = np.zeros((self.nz, self.nr))
        for j in range(self.nz):
            z0, z1 = self.z_faces[j], self.z_faces[j + 1]
            if min(abs(z0 - z_center_m), abs(z1 - z_center_m)) > radius_m and not (
                z0 <= z_center_m <= z1
            ):
                continue
            zs = z0 + (z1 - z0) * u
            for i in range(self.nr):
                r0, r1 = self.r_faces[i], self.r_faces[i + 1]
                if r0 > radius_m:
                    break
                rs = np.sqrt(r0**2 + (r1**2 - r0**2) * u)  # equal-area sub-rings
                inside = (rs[None, :] ** 2 + (zs[:, None] - z_center_m) ** 2) <= radius_m**2
                frac[j, i] = inside.mean()
        return frac


@dataclass(frozen=True)
class Boundary:
    """Surface condition: heat transfer coefficient ``h`` (W/m^2/K) to ``T_C``.

    ``h = math.inf`` is a fixed temperature, ``h = 0`` adiabatic; ``to_core`` connects the
    face to the core node (fixed-temperature contact with it) instead of ``T_C``.
    """

    h_W_m2K: float = 0.0
    T_C: float = 0.0
    to_core: bool = False


@dataclass(frozen=True)
class CoreNode:
    """Lumped body core: heat capacity and a conductance to a reference temperature."""

    heat_capacity_J_K: float
    conductance_W_K: float
    T_ref_C: float


class _Assembly:
    """The sparse conductance matrix of a :class:`PennesSolver` being built: couplings
    between cells, conductances to fixed temperatures (with their sources ``b`` and the
    loss bookkeeping ``ext_g``) and the diagonal."""

    def __init__(self, size: int, core_index: int | None) -> None:
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.diag = np.zeros(size)
        self.b = np.zeros(size)
        self.ext_g = np.zeros(size)  # conductance to fixed external temperatures
        self.core_index = core_index

    def couple(self, p: np.ndarray, q: np.ndarray | int, g: np.ndarray) -> None:
        """Conductances ``g`` (W/K) between cells ``p`` and ``q``."""
        q = np.broadcast_to(q, p.shape)
        np.add.at(self.diag, p, g)
        np.add.at(self.diag, q, g)
        self.rows.extend([p, q])
        self.cols.extend([q, p])
        self.vals.extend([-g, -g])

    def to_fixed(self, p: np.ndarray, g: np.ndarray, T: float) -> None:
        """Conductances ``g`` (W/K) from cells ``p`` to a fixed temperature ``T`` (C)."""
        np.add.at(self.diag, p, g)
        np.add.at(self.b, p, g * T)
        np.add.at(self.ext_g, p, g)

    def surface(
        self, bc: Boundary, cells: np.ndarray, area: np.ndarray, dist: np.ndarray, kk: np.ndarray
    ) -> np.ndarray:
        """A boundary's conductance per cell (W/K): cell centre to face through the
        tissue, then the boundary's film coefficient, to its temperature or the core."""
        h = bc.h_W_m2K
        if h == 0.0:
            return np.zeros_like(area)
        res = dist / kk + (0.0 if math.isinf(h) else 1.0 / h)
        g = area / res
        if bc.to_core:
            if self.core_index is None:
                raise ValueError("a boundary connects to the core but there is no core node")
            self.couple(cells, self.core_index, g)
        else:
            self.to_fixed(cells, g, bc.T_C)
        return g

    def matrix(self) -> sp.csc_matrix:
        size = len(self.diag)
        rows = np.concatenate([*self.rows, np.arange(size)])
        cols = np.concatenate([*self.cols, np.arange(size)])
        vals = np.concatenate([*self.vals, self.diag])
        return sp.csc_matrix((vals, (rows, cols)), shape=(size, size))


def _conduction(asm: _Assembly, grid: AxiGrid, k: np.ndarray, idx: np.ndarray) -> None:
    """Couple neighbouring cells through their shared radial and axial faces (series
    resistance of the two half-cells, W/K)."""
    nz, nr = grid.nz, grid.nr
    dz = np.diff(grid.z_faces)
    r, z, rf, zf = grid.r, grid.z, grid.r_faces, grid.z_faces
    if nr > 1:
        area = 2 * math.pi * rf[None, 1:-1] * dz[:, None]
        res = (rf[None, 1:-1] - r[None, :-1]) / k[:, :-1] + (r[None, 1:] - rf[None, 1:-1]) / k[
            :, 1:
        ]
        asm.couple(idx[:, :-1].ravel(), idx[:, 1:].ravel(), (area / res).ravel())
    if nz > 1:
        area = grid.ring_area[None, :]
        res = (zf[1:-1] - z[:-1])[:, None] / k[:-1, :] + (z[1:] - zf[1:-1])[:, None] / k[1:, :]
        asm.couple(
            idx[:-1, :].ravel(), idx[1:, :].ravel(), (area / res * np.ones((nz - 1, 1))).ravel()
        )


class PennesSolver:
    """Assemble and integrate the linear bioheat system on ``grid`` (see module doc).

    ``k``, ``rho_c`` (J/m^3/K) and ``perfusion`` (w_b rho_b c_b, W/m^3/K) are (nz, nr)
    maps.  ``arterial_C`` is used when there is no ``core`` (else T_a = core node).
    """

    def __init__(
        self,
        grid: AxiGrid,
        k: np.ndarray,
        rho_c: np.ndarray,
        perfusion: np.ndarray,
        top: Boundary,
        bottom: Boundary,
        outer: Boundary,
        core: CoreNode | None = None,
        arterial_C: float = 37.0,
    ) -> None:
        self.grid, self.core = grid, core
        nz, nr = grid.nz, grid.nr
        n = nz * nr
        self.n_cells = n
        self.size = n + (1 if core else 0)
        vol = grid.volume
        idx = np.arange(n).reshape(nz, nr)
        asm = _Assembly(self.size, core_index=n if core else None)
        _conduction(asm, grid, k, idx)
        r, z, rf, zf = grid.r, grid.z, grid.r_faces, grid.z_faces
        dz = np.diff(zf)
        self.g_top = asm.surface(top, idx[0], grid.ring_area, np.full(nr, z[0] - zf[0]), k[0])
        self.g_bottom = asm.surface(
            bottom, idx[-1], grid.ring_area, np.full(nr, zf[-1] - z[-1]), k[-1]
        )
        self.g_outer = asm.surface(
            outer, idx[:, -1], 2 * math.pi * rf[-1] * dz, np.full(nz, rf[-1] - r[-1]), k[:, -1]
        )
        perf = (perfusion * vol).ravel()
        if core is not None:
            asm.couple(idx.ravel(), n, perf)
            asm.to_fixed(np.array([n]), np.array([core.conductance_W_K]), core.T_ref_C)
        else:
            asm.to_fixed(idx.ravel(), perf, arterial_C)
        self.A = asm.matrix()
        diag, b, ext_g = asm.diag, asm.b, asm.ext_g
        self.b = b
        self.ext_g = ext_g
        cap = (rho_c * vol).ravel()
        self.capacity = np.concatenate([cap, [core.heat_capacity_J_K]]) if core else cap
        self._max_rate = float(np.max(diag / self.capacity))
        self._factors: dict[float, _Factor] = {}
        self._repeat_steps: set[float] = set()  # remainders seen: stepped whole next time
        self._last_x: np.ndarray | None = None
        self._last_ax = np.zeros(0)
        self._lu_steady = None

    # -- solves -----------------------------------------------------------------------
    def steady(self, source_W: np.ndarray, boundaries: bool = True) -> np.ndarray:
        """Steady state A x = b + s (``boundaries=False``: A x = s, for superposition)."""
        if self._lu_steady is None:
            self._lu_steady = spla.splu(self.A, permc_spec="MMD_AT_PLUS_A")
        return self._lu_steady.solve(self.b + source_W if boundaries else source_W)

    def _factor(self, h_eff: float) -> _Factor:
        f = self._factors.get(h_eff)
        if f is None:
            if len(self._factors) > 32:
                self._factors.clear()
            f = self._factors[h_eff] = _Factor(
                self.A + sp.diags(self.capacity / h_eff), self.n_cells, self.grid.nr
            )
        return f

    def _ax(self, x: np.ndarray) -> np.ndarray:
        """A @ x, reused when ``x`` is the state the last step returned."""
        if x is self._last_x:
            return self._last_ax
        return self.A @ x

    def _steps(self, x: np.ndarray, h: float, n: int, r: np.ndarray) -> np.ndarray:
        """``n`` TR-BDF2 steps of ``h`` s; r = b + s.  Keeps A x of the result for reuse."""
        h_eff = _GAMMA * h / 2.0
        f = self._factor(h_eff)
        c = self.capacity / h_eff
        r2 = 2.0 * r
        ax = self._ax(x)
        for _ in range(n):
            x_g = c * x
            x_g -= ax
            x_g += r2
            x_g = f.solve(x_g)  # trapezoid to t + gamma h
            rhs = _BDF_A * x_g
            rhs -= _BDF_C * x
            rhs *= c
            rhs += r  # BDF2 to t + h: (c + A) x1 = rhs
            x = f.solve(rhs.copy())
            rhs -= c * x
            ax = rhs
        x.flags.writeable = False  # states are immutable: A x is cached by identity
        self._last_x, self._last_ax = x, ax
        return x

    def step(self, x: np.ndarray, h: float, source_W: np.ndarray) -> np.ndarray:
        """One TR-BDF2 step of ``h`` seconds with constant sources (see :meth:`integrate`)."""
        return self._steps(x, h, 1, self.b + source_W)

    def integrate(
        self, x: np.ndarray, dt: float, source_W: np.ndarray, max_step: float
    ) -> np.ndarray:
        """Integrate ``dt`` s with constant sources, in steps <= ``max_step``.

        TR-BDF2 (Bank et al., IEEE Trans. CAD 4 (1985) 436; Hosea & Shampine, Appl. Numer.
        Math. 20 (1996) 21): second order and L-stable, gamma = 2 - sqrt(2), both stages
        solve with the same matrix C/(gamma h/2) + A.  Step sizes come from a fixed ladder
        so their factorizations are reused: whole steps of ``max_step``, then the remainder
        as binary fractions of it down to max_step/1024; what is left (< 2 ms for 2 s
        steps) is one explicit Euler step when that is stable, else one implicit step.
        A remainder seen before (to 1 ns) is instead one step of its own size.
        """
        tol = 1e-6  # a step is taken when the time left is within 1 ppm of it (clock rounding)
        n_full = int(dt // max_step)
        rem = dt - n_full * max_step
        if rem >= max_step * (1 - tol):
            n_full, rem = n_full + 1, 0.0
        r = self.b + source_W
        if n_full:
            x = self._steps(x, max_step, n_full, r)
        ladder, left, h = [], rem, max_step
        for _ in range(10):
            h /= 2
            if left >= h * (1 - tol):
                ladder.append(h)
                left -= h
        if len(ladder) + (left > 1e-12) > 1:
            # A remainder the ladder splits, met before, is one step of its own size
            # (factorization cached): lockstep runs repeat a few (monitor period, ramp
            # tick, loop period).
            key = round(rem, 9)
            if key in self._repeat_steps:
                return self._steps(x, key, 1, r)
            if len(self._repeat_steps) >= 16:
                self._repeat_steps.clear()
            self._repeat_steps.add(key)
        for h in ladder:
            x = self._steps(x, h, 1, r)
        rem = left
        if rem <= 1e-12:
            return x
        if rem * self._max_rate < 0.5:
            return x + rem * (r - self.A @ x) / self.capacity
        M = (self.A + sp.diags(self.capacity / rem)).tocsc()
        return spla.spsolve(M, self.capacity / rem * x + r)

    def external_loss_W(self, x: np.ndarray) -> float:
        """Heat leaving the system to fixed external temperatures at state ``x``, W."""
        return float(self.ext_g @ x - self.b.sum())


class _Factor:
    """Cholesky factor of the SPD matrix M = C/h + A, cached per step size.

    The grid block is banded (5-point stencil, r fastest: offsets 1 and nr), so it is
    factorized with LAPACK's banded Cholesky (dpbtrf), about twice as fast per solve as
    SuperLU here; the core node, coupled to every perfused cell, is eliminated by a Schur
    complement: x_c = (r_c - m.y) / (M_cc - m.w), x_g = y - w x_c, y = G^-1 r_g, w = G^-1 m.
    """

    def __init__(self, M: sp.spmatrix, n: int, bandwidth: int) -> None:
        M = sp.csc_matrix(M)
        self.n = n
        ab = np.zeros((bandwidth + 1, n))
        G = sp.dia_matrix(M[:n, :n])
        for k, row in zip(G.offsets, G.data, strict=True):
            if k > bandwidth:
                raise ValueError(f"matrix bandwidth {k} exceeds {bandwidth}")
            if k >= 0:
                ab[bandwidth - k, k:] = row[k:]
        self.chol, info = lapack.dpbtrf(ab, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"bioheat matrix is not positive definite (info {info})")
        self.core = M.shape[0] > n
        if self.core:
            self.m = M[:n, n].toarray().ravel()
            self.w, _ = lapack.dpbtrs(self.chol, self.m, lower=0)
            self.schur = float(M[n, n]) - float(self.m @ self.w)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve M x = rhs; ``rhs`` (a temporary) is overwritten and returned as x."""
        n = self.n
        rhs[:n], _ = lapack.dpbtrs(self.chol, rhs[:n], lower=0, overwrite_b=1)
        if self.core:
            xc = (rhs[n] - self.m @ rhs[:n]) / self.schur
            rhs[:n] -= self.w * xc
            rhs[n] = xc
        return rhs
