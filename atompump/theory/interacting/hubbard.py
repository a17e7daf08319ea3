"""The interacting Rice–Mele pump on a ring: Fermi–Hubbard, Bose–Hubbard and spinless fermions.

    H(theta, phi) = sum_j [ -J1 (a_j^+ b_j + h.c.) - J2 (b_j^+ a_{j+1} + h.c.) + Delta (n_{a,j} - n_{b,j}) ]
                    + U sum_i D_i + sum_i w_i n_i

with the couplings ``(J1, J2, Delta)(phi)`` of any :class:`~atompump.theory.rice_mele.RiceMeleCouplings` (the
conventions of :mod:`atompump.theory.rice_mele`), ``n_cells`` cells on a ring whose closing bond
``B_{N-1} - A_0`` carries the twist: ``-J2 exp(i theta) b_{N-1}^+ a_0`` (as in
:func:`~atompump.theory.rice_mele.real_space_hamiltonian`), optional on-site disorder ``w_i``, and the on-site
interaction ``D_i = n_{i,up} n_{i,down}`` (spinful fermions, ``particles="spinful"``) or
``n_i (n_i - 1) / 2`` (bosons with at most ``max_occupation`` per site; 1 = hard-core).

The many-body Chern number over (theta, phi) (:func:`~atompump.theory.interacting.manybody.torus_chern`) is the
charge pumped per cycle (particles, both spins counted), and the Resta winding at theta = 0 its finite-ring
estimate. Checks (tests): at U = 0 the spinless half-filled ring gives the lower band's Chern number of
:func:`~atompump.theory.rice_mele.winding_chern_number` and the spinful one twice that; hard-core bosons give the
free-fermion spectrum with the twist shifted by ``pi (N - 1)`` (Jordan–Wigner) and the same Chern number.

Hubbard–Thouless pump (Walter et al., Nat. Phys. 19, 1471 (2023)): at half filling the U = 0 degeneracy point
``(J1 - J2, Delta) = (0, 0)`` of the Rice–Mele plane splits into two, at ``Delta ~ +-U/2`` for J1 = J2 (the ionic
Hubbard band-to-Mott transition). A loop ``Delta(phi) = Delta sin phi`` encloses both (2 particles per cycle, one
per spin) while ``U`` is small against ``2 Delta``; when the split points leave the loop the pumped charge drops
to 0 and the many-body gap closes on the way (:func:`breakdown_scan`). Interaction-induced pumping (Viebahn et
al., PRX 2024, arXiv:2308.03756): a loop offset along Delta (:class:`OffsetRiceMele`) that misses the U = 0
point encloses one of the split points at suitable U and pumps one particle per cycle, half of the two of the
non-interacting loop around the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atompump.theory.interacting.fock import MAX_DIMENSION, TermHamiltonian, fock_space
from atompump.theory.interacting.manybody import ResultWinding, TorusResult, resta_winding, torus_chern
from atompump.theory.refine import bisect_integer_change
from atompump.theory.rice_mele import RiceMeleCouplings

__all__ = ["OffsetRiceMele", "RiceMeleRing", "PumpResult", "interacting_pump", "breakdown_scan", "breakdown_point"]


@dataclass(frozen=True)
class OffsetRiceMele:
    """Rice–Mele loop with offsets: ``J1,2 = J +- (dJ0 + dJ cos phi)``, ``Delta(phi) = Delta0 + Delta sin phi``.

    With ``|Delta0| > |Delta|`` the loop misses the non-interacting degeneracy point: trivial at U = 0.
    """

    J: float = 1.0
    dJ: float = 0.5
    Delta: float = 1.0
    Delta0: float = 0.0
    dJ0: float = 0.0

    def couplings(self, phi):
        phi = np.asarray(phi, float)
        d = self.dJ0 + self.dJ * np.cos(phi)
        return self.J + d, self.J - d, self.Delta0 + self.Delta * np.sin(phi)


class RiceMeleRing:
    """The interacting Rice–Mele ring: its basis, sparse Hamiltonian ``H(theta, phi)`` and positions.

    Parameters
    ----------
    model : RiceMeleCouplings
    n_cells : int, keyword-only
        Cells of the ring (2 n_cells sites A_0, B_0, A_1, ...; n_cells >= 2).
    particles : {"spinful", "bosons", "fermions"}, keyword-only
    n_particles : int or (int, int), keyword-only
        Default: one particle per cell (half filling of the sites) for bosons and spinless fermions, and
        (n_cells, n_cells) for spinful fermions (one per site: half filling of the Hubbard band).
    U : float, keyword-only
        On-site interaction (energy unit of the model).
    max_occupation : int, keyword-only
        Bosons: particles per site at most (1: hard-core).
    onsite : array_like, shape (2 n_cells,), keyword-only
        Extra on-site energies (disorder).
    """

    def __init__(self, model: RiceMeleCouplings, *, n_cells: int, particles: str = "spinful",
                 n_particles=None, U: float = 0.0, max_occupation: int = 2, onsite=None,
                 max_dimension: int = MAX_DIMENSION) -> None:
        if n_cells < 2:
            raise ValueError(f"n_cells must be >= 2 for a ring, got {n_cells}")
        self.model, self.n_cells, self.U, self.particles = model, int(n_cells), float(U), particles
        n_sites = 2 * self.n_cells
        if n_particles is None:
            n_particles = (self.n_cells, self.n_cells) if particles == "spinful" else self.n_cells
        self.n_particles = n_particles
        self.space = fock_space(n_sites=n_sites, particles=particles, n_particles=n_particles,
                                max_occupation=max_occupation, max_dimension=max_dimension)
        bonds = [(s, s + 1) for s in range(n_sites - 1)] + [(n_sites - 1, 0)]
        interaction = {"spinful": "hubbard", "bosons": "bose", "fermions": None}[particles]
        self.terms = TermHamiltonian(self.space, bonds, interaction=interaction)
        self.onsite = np.zeros(n_sites) if onsite is None else np.asarray(onsite, float)
        if self.onsite.shape != (n_sites,):
            raise ValueError(f"onsite must have shape ({n_sites},), got {self.onsite.shape}")
        self.site_x = np.arange(n_sites) / 2.0  # A_j at j, B_j at j + 1/2 (cells)

    @property
    def dimension(self) -> int:
        return self.space.dimension

    def _couplings(self, theta: float, phi: float) -> tuple[np.ndarray, np.ndarray]:
        j1, j2, delta = (float(v) for v in self.model.couplings(np.asarray(phi, float)))
        n_sites = 2 * self.n_cells
        # bond (s, s + 1) as c_s^+ c_{s+1}: amplitude -J1 for even s (A_j-B_j), -J2 for odd s (B_j-A_{j+1});
        # closing bond (B_{N-1}, A_0): -J2 exp(i theta) b_{N-1}^+ a_0
        hops = np.where(np.arange(n_sites - 1) % 2 == 0, -j1, -j2).astype(complex)
        hops = np.append(hops, -j2 * np.exp(1j * theta))
        onsite = np.where(np.arange(n_sites) % 2 == 0, delta, -delta) + self.onsite
        return hops, onsite

    def hamiltonian(self, theta: float, phi: float):
        """Sparse ``H(theta, phi)`` (CSR)."""
        hops, onsite = self._couplings(theta, phi)
        return self.terms.matrix(hops, onsite, self.U)

    def velocity(self, theta: float, phi: float):
        """``dX/dt = i [H, X]`` (cells per unit time, hbar = 1): ``i sum_b d_b (h_b c_i^+ c_j - h.c.)`` with
        ``d_b = x_j - x_i`` the bond's length towards +x (1/2 cell; the closing bond too)."""
        hops, _ = self._couplings(theta, phi)
        n_sites = 2 * self.n_cells
        return self.terms.matrix(1j * 0.5 * hops, np.zeros(n_sites))

    def positions(self) -> np.ndarray:
        """``X = sum_i x_i n_i`` of every basis state, in cells."""
        return self.terms.density @ self.site_x


@dataclass(frozen=True)
class PumpResult:
    """Pumped charge of an interacting Rice–Mele ring.

    Attributes
    ----------
    chern : TorusResult
        Many-body Chern number over (theta, phi) (the pumped charge per cycle, particles), gaps.
    resta : ResultWinding or None
        Resta polarisation at theta = 0 over the cycle.
    dimension : int
    """

    chern: TorusResult
    resta: ResultWinding | None
    dimension: int

    @property
    def pumped_charge(self) -> int:
        return self.chern.chern_number

    def summary(self) -> dict:
        out = {"chern_number": self.chern.chern_number, "chern_raw": round(self.chern.chern_raw, 6),
               "manifold": self.chern.manifold, "charge_per_state": self.chern.charge_per_state,
               "min_gap": self.chern.min_gap, "max_splitting": self.chern.max_splitting,
               "hilbert_dimension": self.dimension}
        if self.resta is not None:
            out["resta_pumped_charge"] = self.resta.pumped_charge
            out["resta_min_abs_z"] = self.resta.min_abs_z
        return out


def interacting_pump(model: RiceMeleCouplings, *, n_cells: int = 4, particles: str = "spinful", U: float = 0.0,
                     n_particles=None, max_occupation: int = 2, onsite=None, n_theta: int = 6, n_phi: int = 24,
                     m: int = 1, resta: bool = True, n_phi_resta: int = 48,
                     max_dimension: int = MAX_DIMENSION) -> PumpResult:
    """Many-body Chern number, gap and Resta pumped charge of the interacting Rice–Mele ring (see
    :class:`RiceMeleRing` for the parameters; ``m`` ground states form the manifold)."""
    ring = RiceMeleRing(model, n_cells=n_cells, particles=particles, n_particles=n_particles, U=U,
                        max_occupation=max_occupation, onsite=onsite, max_dimension=max_dimension)
    chern = torus_chern(ring.hamiltonian, n_theta=n_theta, n_phi=n_phi, m=m)
    winding = resta_winding(ring.hamiltonian, ring.positions(), ring.n_cells, n_phi=n_phi_resta, m=m) if resta \
        else None
    return PumpResult(chern=chern, resta=winding, dimension=ring.dimension)


def breakdown_scan(model: RiceMeleCouplings, interactions, *, n_cells: int = 3, particles: str = "spinful",
                   n_theta: int = 6, n_phi: int = 24, **kwargs) -> list[dict]:
    """Pumped charge (Chern number) and minimum many-body gap against ``U`` (one dict per value, with ``U``)."""
    rows = []
    for u in interactions:
        result = interacting_pump(model, n_cells=n_cells, particles=particles, U=float(u), n_theta=n_theta,
                                  n_phi=n_phi, **kwargs)
        rows.append({"U": float(u), **result.summary()})
    return rows


def breakdown_point(model: RiceMeleCouplings, *, u_low: float, u_high: float, steps: int = 8, n_cells: int = 3,
                    particles: str = "spinful", n_theta: int = 6, n_phi: int = 24,
                    **kwargs) -> tuple[float, PumpResult, PumpResult]:
    """Bisect the interaction at which the pumped charge (many-body Chern number) changes.

    The charge is an integer that can change only where the many-body gap closes somewhere on the (theta, phi)
    torus, so the minimum gaps of the two bracketing results shrink as the bracket does (down to the mesh's
    resolution: the gap on the mesh is an upper bound of the true minimum).

    Returns
    -------
    u_star : float
        Midpoint of the final bracket.
    low, high : PumpResult
        The results at the bracket's ends (different charges).
    """
    def at(u: float) -> PumpResult:
        return interacting_pump(model, n_cells=n_cells, particles=particles, U=u, n_theta=n_theta, n_phi=n_phi,
                                resta=False, **kwargs)

    return bisect_integer_change(at, low=u_low, high=u_high, steps=steps, value=lambda r: r.pumped_charge,
                                 name="U")
