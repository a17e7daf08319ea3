"""The Rice–Mele model: the two-band tight-binding limit of the superlattice pump.

Conventions (fixed here, relied on by the pump simulator and by the mapping from the continuum)::

    H = sum_j [ -J1 (a_j^+ b_j + h.c.) - J2 (b_j^+ a_{j+1} + h.c.) + Delta (a_j^+ a_j - b_j^+ b_j) ]

- Cell j holds site A_j at x = j d and site B_j at x = (j + 1/2) d (d: the lattice constant, dl for the
  superlattice). J1 is the intra-cell bond A_j-B_j, J2 the inter-cell bond B_j-A_{j+1}; A carries +Delta.
- The cycle: ``J1,2(phi) = J +- dJ cos(phi)``, ``Delta(phi) = Delta sin(phi)`` (:class:`RiceMeleParams`), or any
  object with a ``couplings(phi) -> (J1, J2, Delta)`` method (:class:`CallableRiceMele`, :class:`SampledRiceMele`).
- Bloch Hamiltonian (k in rad per cell, orbital positions ignored, periodic in k):
  ``H(k) = [[Delta, -(J1 + J2 exp(-ik))], [-(J1 + J2 exp(ik)), -Delta]]``, bands
  ``E = +- sqrt(Delta^2 + J1^2 + J2^2 + 2 J1 J2 cos k)``.
- Chern number (physics.md sign: C > 0 when the band's Wannier centre moves towards +x as phi increases): for
  J, dJ, Delta > 0 the lower band has C = +1 — at phi = 0 it is the A_j-B_j dimer (centre d/4), at pi/2 it
  sits on B (centre d/2), at pi on the B_j-A_{j+1} dimer (3d/4). In general the lower band's C is the winding
  number of ``(|J1| - |J2|, Delta)`` around the degeneracy point (0, 0), counted anticlockwise
  (:func:`winding_chern_number`); the upper band has -C.

The superlattice maps onto this model with A_j at x = (j - 1/4) dl and B_j at (j + 1/4) dl: at phi = 0 the
long lattice leaves the barrier at x = 0 low (strong J1), and for 0 < phi < pi the site at -dl/4 is the higher
one (Delta > 0), so the Lohse lattice has dJ > 0, Delta > 0 and the lowest band's C = +1 in both descriptions.
:func:`rice_mele_from_superlattice` extracts J1(phi), J2(phi), Delta(phi) from the continuum bands through the
maximally localised Wannier functions of the two lowest bands (:mod:`atompump.theory.wannier`); the physics.md
values (J1(0) ~ 0.061 Er,s, J2(0) ~ 0.005 Er,s, on-site difference 2 Delta_max ~ 4.5 Er,s) are reproduced.

References: Rice & Mele, Phys. Rev. Lett. 49, 1455 (1982); Asbóth, Oroszlány & Pályi, A Short Course on
Topological Insulators, Lecture Notes in Physics 919 (Springer, 2016), ch. 4; Lohse et al., Nat. Phys. 12, 350
(2016).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.interpolate import CubicSpline

from atompump.errors import GapClosedError
from atompump.theory.berry import torus_states, wannier_centres
from atompump.theory.superlattice import SuperlatticeParams, bloch_states
from atompump.theory.tight_binding import TorusTopology, torus_topology
from atompump.theory.wannier import hopping_matrices, maximally_localised

__all__ = [
    "RiceMeleCouplings",
    "RiceMeleParams",
    "CallableRiceMele",
    "SampledRiceMele",
    "bloch_hamiltonian",
    "band_energies",
    "direct_gap",
    "winding_chern_number",
    "rice_mele_topology",
    "hybrid_wannier_centres",
    "real_space_hamiltonian",
    "chain_tridiagonal",
    "LOHSE_RICE_MELE",
    "site_positions",
    "rice_mele_from_superlattice",
]


@runtime_checkable
class RiceMeleCouplings(Protocol):
    """Anything that gives the Rice–Mele couplings at phases ``phi`` (rad): ``(J1, J2, Delta)`` arrays."""

    def couplings(self, phi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover - protocol
        ...


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"Rice-Mele parameter {name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class RiceMeleParams:
    """The standard Rice–Mele cycle ``J1,2 = J +- dJ cos(phi)``, ``Delta(phi) = Delta sin(phi)``.

    Attributes
    ----------
    J, dJ, Delta : float
        Mean hopping, hopping modulation and staggered on-site amplitude, in any one energy unit.
    """

    J: float = 1.0
    dJ: float = 0.5
    Delta: float = 1.0

    def __post_init__(self) -> None:
        for name in ("J", "dJ", "Delta"):
            _finite(name, getattr(self, name))

    def couplings(self, phi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(J1, J2, Delta)`` at the phases ``phi`` (rad), each of ``phi``'s shape."""
        phi = np.asarray(phi, dtype=float)
        c = np.cos(phi)
        return self.J + self.dJ * c, self.J - self.dJ * c, self.Delta * np.sin(phi)

    def min_gap(self) -> float:
        """Closed form of the minimum gap over the cycle for ``|dJ| <= |J|``: ``2 min(|Delta|, 2 |dJ|)``."""
        if abs(self.dJ) > abs(self.J):
            raise ValueError("the closed form holds for |dJ| <= |J|; use direct_gap otherwise")
        return 2.0 * min(abs(self.Delta), 2.0 * abs(self.dJ))


LOHSE_RICE_MELE = RiceMeleParams(J=0.033, dJ=0.028, Delta=2.258)
"""The standard cycle fitted to the Lohse lattice (Vs = 10 Er,s, Vl = 20 Er,l), in Er,s: it reproduces the minimum
gap ``2 (J1 - J2)(phi = 0) = 4 dJ = 0.112 Er,s`` (physics.md: J1 = 0.061, J2 = 0.005 Er,s) and the gap at
phi = pi/2, ``2 Delta = 4.52 Er,s``, of the plane-wave bands. The pump simulator's default couplings."""


@dataclass(frozen=True)
class CallableRiceMele:
    """Rice–Mele couplings from three callables ``J1(phi)``, ``J2(phi)``, ``Delta(phi)`` (2 pi periodic)."""

    J1: Callable[[np.ndarray], np.ndarray]
    J2: Callable[[np.ndarray], np.ndarray]
    Delta: Callable[[np.ndarray], np.ndarray]

    def couplings(self, phi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        phi = np.asarray(phi, dtype=float)
        return (np.broadcast_to(self.J1(phi), phi.shape).astype(float),
                np.broadcast_to(self.J2(phi), phi.shape).astype(float),
                np.broadcast_to(self.Delta(phi), phi.shape).astype(float))


@dataclass(frozen=True)
class SampledRiceMele:
    """Rice–Mele couplings sampled on a uniform phi grid over one cycle, interpolated periodically.

    Attributes
    ----------
    phi : ndarray, shape (n,)
        ``2 pi j / n``, j = 0..n-1 (rad).
    J1, J2, Delta : ndarray, shape (n,)
        Couplings at ``phi`` in ``energy_unit``.
    energy_unit : str
    offset : ndarray, shape (n,), optional
        Mean on-site energy (does not affect the topology).
    residual : ndarray, shape (n,), optional
        Largest coupling left out of the two-band nearest-neighbour model (same unit), a measure of how well the
        continuum bands are described by Rice–Mele.
    """

    phi: np.ndarray
    J1: np.ndarray
    J2: np.ndarray
    Delta: np.ndarray
    energy_unit: str = "Er,s"
    offset: np.ndarray | None = None
    residual: np.ndarray | None = None
    _splines: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        phi = np.asarray(self.phi, float)
        n = phi.size
        if n < 4 or not np.allclose(phi, 2 * np.pi * np.arange(n) / n):
            raise ValueError("SampledRiceMele needs phi = 2 pi j / n, j = 0..n-1, with n >= 4")
        closed = np.append(phi, 2 * np.pi)
        splines = tuple(CubicSpline(closed, np.append(np.asarray(v, float), np.asarray(v, float)[0]),
                                    bc_type="periodic") for v in (self.J1, self.J2, self.Delta))
        object.__setattr__(self, "_splines", splines)

    def couplings(self, phi) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        phi = np.mod(np.asarray(phi, dtype=float), 2 * np.pi)
        return tuple(s(phi) for s in self._splines)  # type: ignore[return-value]


def bloch_hamiltonian(k, phi, model: RiceMeleCouplings) -> np.ndarray:
    """Bloch Hamiltonian ``H(k, phi)``, shape ``broadcast(k, phi).shape + (2, 2)`` (basis A, B; k in rad/cell)."""
    k, phi = np.broadcast_arrays(np.asarray(k, float), np.asarray(phi, float))
    j1, j2, delta = model.couplings(phi)
    h = np.empty(k.shape + (2, 2), dtype=complex)
    off = -(j1 + j2 * np.exp(-1j * k))
    h[..., 0, 0] = delta
    h[..., 1, 1] = -delta
    h[..., 0, 1] = off
    h[..., 1, 0] = np.conj(off)
    return h


def band_energies(k, phi, model: RiceMeleCouplings) -> np.ndarray:
    """Closed-form bands ``-+ sqrt(Delta^2 + J1^2 + J2^2 + 2 J1 J2 cos k)``, shape ``(..., 2)``, lower first."""
    k, phi = np.broadcast_arrays(np.asarray(k, float), np.asarray(phi, float))
    j1, j2, delta = model.couplings(phi)
    e = np.sqrt(delta**2 + j1**2 + j2**2 + 2 * j1 * j2 * np.cos(k))
    return np.stack([-e, e], axis=-1)


def direct_gap(phi, model: RiceMeleCouplings) -> np.ndarray:
    """Closed-form direct gap at each phi, minimised over k: ``2 sqrt(Delta^2 + (|J1| - |J2|)^2)``."""
    j1, j2, delta = model.couplings(phi)
    return 2.0 * np.sqrt(delta**2 + (np.abs(j1) - np.abs(j2)) ** 2)


def winding_chern_number(model: RiceMeleCouplings, *, n_phi: int = 2048) -> int:
    """Lower-band Chern number as the winding of ``(|J1| - |J2|, Delta)`` around (0, 0), anticlockwise positive.

    Each time ``Delta(phi)`` changes sign where ``|J2| > |J1|`` (the k-loop of the d-vector then encloses the
    origin) contributes ``-sign(dDelta/dphi)``: for positive hoppings that is the anticlockwise winding of
    ``(J1 - J2, Delta)`` through the negative first axis.

    Raises
    ------
    GapClosedError
        If the loop passes through the degeneracy point (Delta = 0 where |J1| = |J2|).
    """
    phi = 2 * np.pi * np.arange(n_phi + 1) / n_phi
    j1, j2, delta = model.couplings(phi)
    gap = direct_gap(phi, model)
    scale = max(np.abs(j1).max(), np.abs(j2).max(), np.abs(delta).max(), 1e-300)
    if gap.min() < 1e-9 * scale:
        j = int(np.argmin(gap))
        raise GapClosedError(f"the Rice-Mele gap closes at phi = {phi[j]:.4f} rad ({phi[j] / np.pi:.3f} pi): "
                             "the Chern number is undefined")
    winding = 0
    for j in range(n_phi):
        d0, d1 = delta[j], delta[j + 1]
        if d0 == 0.0 and j > 0:
            continue  # counted at the previous step
        if (d0 > 0) != (d1 > 0) or d1 == 0.0:
            t = d0 / (d0 - d1) if d0 != d1 else 0.0
            inner = abs(j2[j] + t * (j2[j + 1] - j2[j])) > abs(j1[j] + t * (j1[j + 1] - j1[j]))
            if inner:
                winding -= int(np.sign(d1 - d0))
    return winding


def rice_mele_topology(model: RiceMeleCouplings, *, n_k: int = 24, n_phi: int = 48,
                       gap_tolerance: float = 1e-9) -> TorusTopology:
    """Chern numbers (lower, upper) and the minimum gap of a Rice–Mele cycle by Fukui–Hatsugai–Suzuki.

    Raises
    ------
    GapClosedError
        Naming the phi where the gap closes.
    """
    topo = torus_topology(lambda k, phi: bloch_hamiltonian(k, phi, model), n_k=n_k, n_phi=n_phi,
                          gap_tolerance=gap_tolerance)
    topo.band_chern_numbers()  # raises GapClosedError when the two bands touch
    return topo


def _position_closure(vectors_at_zero: np.ndarray) -> np.ndarray:
    # u_II(k) = diag(exp(-i k x_a)) u_I(k) with x_A = 0, x_B = 1/2: u_II(2 pi) = diag(1, -1) u_II(0)
    closed = vectors_at_zero.copy()
    closed[..., 1, :] *= -1
    return closed


def hybrid_wannier_centres(model: RiceMeleCouplings, *, n_k: int = 64,
                           n_phi: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Hybrid Wannier centres of both bands over one cycle, in units of d, with the orbital positions.

    Returns
    -------
    phi : ndarray, shape (n_phi + 1,)
    centres : ndarray, shape (2, n_phi + 1)
        Lower band first, continuous in phi; ``centres[:, -1] - centres[:, 0]`` is ``(C, -C)``. The lower band
        starts at d/4 (the A_j-B_j bond centre) when J1 > J2 and Delta = 0 at phi = 0.
    """

    def h_positions(k, phi):
        h = bloch_hamiltonian(k, phi, model)
        h[..., 0, 1] *= np.exp(0.5j * k)  # phase of the bond from B (x = 1/2) to A (x = 0)
        h[..., 1, 0] *= np.exp(-0.5j * k)
        return h

    _, phi, _, vectors = torus_states(h_positions, n_k=n_k, n_phi=n_phi, k_closure=_position_closure)
    centres = np.stack([wannier_centres(vectors[..., b]) for b in range(2)])
    centres -= np.floor(centres[:, :1])  # start in cell 0
    return phi, centres


def site_positions(n_cells: int) -> np.ndarray:
    """Positions (units of d) of the sites of :func:`real_space_hamiltonian`: A_0, B_0, A_1, B_1, ..."""
    return np.arange(2 * n_cells) / 2.0


def real_space_hamiltonian(model: RiceMeleCouplings, phi: float, n_cells: int, *, boundary: str = "open",
                           twist: float = 0.0, onsite=None) -> np.ndarray:
    """Real-space Hamiltonian of a chain of ``n_cells`` cells (2 n_cells sites A_0, B_0, A_1, ...).

    Parameters
    ----------
    model : RiceMeleCouplings
    phi : float
        Pump phase (rad).
    n_cells : int
    boundary : {"open", "periodic"}, keyword-only
    twist : float, keyword-only
        Twist angle theta (rad) of the periodic boundary, ``psi(x + N d) = exp(i theta) psi(x)``: the bond
        between B_{N-1} and A_0 enters as ``-J2 exp(i theta)`` in element (B_{N-1}, A_0). For the clean chain the
        twist plays the role of ``N k``.
    onsite : array_like, shape (2 n_cells,), optional
        Additional on-site energies (e.g. disorder).

    Returns
    -------
    ndarray, shape (2 n_cells, 2 n_cells), complex
    """
    if boundary not in ("open", "periodic"):
        raise ValueError(f"boundary must be 'open' or 'periodic', got {boundary!r}")
    diag, off = chain_tridiagonal(model, phi, n_cells, onsite=onsite)
    h = (np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)).astype(complex)
    if boundary == "periodic":
        j2 = float(model.couplings(np.asarray(phi, float))[1])
        n = diag.size
        h[n - 1, 0] += -j2 * np.exp(1j * twist)
        h[0, n - 1] += -j2 * np.exp(-1j * twist)
    return h


def chain_tridiagonal(model: RiceMeleCouplings, phi: float, n_cells: int, *,
                      onsite=None) -> tuple[np.ndarray, np.ndarray]:
    """The open chain's Hamiltonian as its diagonal and off-diagonal (the one place the chain is built).

    ``diag = (+Delta, -Delta, +Delta, ...) + onsite`` over A_0, B_0, A_1, ...; ``off = (-J1, -J2, -J1, ...)``
    (bond A_j-B_j, then B_j-A_{j+1}). :func:`real_space_hamiltonian` and the pump simulator
    (:class:`atompump.simulate.tight_binding.TightBindingModel`, trap as ``onsite``) use it.

    Returns
    -------
    diag : ndarray, shape (2 n_cells,)
    off : ndarray, shape (2 n_cells - 1,)
    """
    if n_cells < 1:
        raise ValueError(f"n_cells must be >= 1, got {n_cells}")
    j1, j2, delta = (float(v) for v in model.couplings(np.asarray(phi, float)))
    n = 2 * n_cells
    diag = np.where(np.arange(n) % 2 == 0, delta, -delta)
    if onsite is not None:
        onsite = np.asarray(onsite, float)
        if onsite.shape != (n,):
            raise ValueError(f"onsite must have shape ({n},), got {onsite.shape}")
        diag = diag + onsite
    off = np.where(np.arange(n - 1) % 2 == 0, -j1, -j2)
    return diag, off


def rice_mele_from_superlattice(params: SuperlatticeParams, *, n_phi: int = 48, n_k: int = 32,
                                n_max: int = 10) -> SampledRiceMele:
    """J1(phi), J2(phi), Delta(phi) of the superlattice from the Wannier functions of its two lowest bands.

    Method: at each phi the two lowest bands (an isolated group wherever the gap to band 3 is open) are turned
    into their two maximally localised Wannier functions, the double-well site orbitals near x = -dl/4 (A) and
    +dl/4 (B) (:func:`~atompump.theory.wannier.maximally_localised`); their tight-binding matrix elements are
    ``Delta = (H_AA(0) - H_BB(0)) / 2``, ``J1 = -H_AB(0)`` and ``J2 = -H_BA(R = 1)``. The rest (next-nearest
    neighbours and beyond) is reported as ``residual``. Unlike a fit of the dispersion, this fixes the signs
    (which bond is strong, which site is high), so the Rice–Mele Chern number is that of the continuum band.

    Parameters
    ----------
    params : SuperlatticeParams
    n_phi, n_k, n_max : int, keyword-only
        Mesh (phi = 2 pi j / n_phi) and plane-wave cut-off.

    Returns
    -------
    SampledRiceMele
        In Er,s.
    """
    kappa, _, energies, vectors = bloch_states(params, n_k=n_k, n_phi=n_phi, n_bands=2, n_max=n_max)
    j1, j2, delta, offset, residual = (np.empty(n_phi) for _ in range(5))
    for j in range(n_phi):
        gauge = maximally_localised(kappa, energies[:, j, :2], vectors[:, j, :, :2], n_max=n_max)
        if not (gauge.centres[0] < 0 <= gauge.centres[1]):
            raise ArithmeticError(f"the Wannier centres {gauge.centres} at phi = {2 * np.pi * j / n_phi:.3f} are not "
                                  "one on each double-well site; the lowest bands are not Rice-Mele like")
        h = hopping_matrices(gauge, r_max=2).real
        on = h[2]
        delta[j] = (on[0, 0] - on[1, 1]) / 2
        offset[j] = (on[0, 0] + on[1, 1]) / 2
        j1[j] = -on[0, 1]
        j2[j] = -h[3][1, 0]
        rest = np.abs(h.copy())
        rest[2] = 0.0
        rest[3][1, 0] = 0.0
        rest[1][0, 1] = 0.0
        residual[j] = rest.max()
    phi = 2 * np.pi * np.arange(n_phi) / n_phi
    return SampledRiceMele(phi=phi, J1=j1, J2=j2, Delta=delta, energy_unit="Er,s", offset=offset, residual=residual)
