"""Fractional pumping of bosons in a 1D superlattice and the fractional quantum Hall effect of Harper–Hofstadter
bosons on a small torus.

Superlattice bosons (Zeng, Zhu & Sheng, arXiv:1607.06151)::

    H(theta, phi) = -J sum_j (b_{j+1}^+ b_j + h.c.) + V sum_j cos(2 pi alpha j + phi) n_j
                    + U/2 sum_j n_j (n_j - 1) + V1 sum_j sum_{d=1..r} n_j n_{j+d}

on a ring of L sites (alpha L integer), the closing bond carrying the twist ``exp(-i theta) b_0^+ b_{L-1}`` (a hop
towards +x across the cut picks ``exp(-i theta)``, as in :mod:`.hubbard`, so the sign is physics.md's), at a
filling ``N / L`` that fills a fraction of the lowest band (alpha L states). The repulsion V1 reaches r sites
(``interaction_range``, default 3 = 1/alpha: bosons in neighbouring superlattice cells repel, the lattice analogue
of the Laughlin state's pseudopotential; with r = 1 the pair is barely separated from the third state). Increasing phi by 2 pi moves the
potential by 1/alpha sites towards +x. At half filling of the lowest band with repulsion, the ground state is
q-fold quasi-degenerate (q = 2: a density wave of period 2/alpha that is the thin-torus limit of the bosonic
Laughlin state); the manifold carries the total Chern number C over (theta, phi) and each state pumps ``C / q``
particles per cycle, returning to itself only after q cycles (after one cycle it has become the other state).
:func:`fractional_pump` computes the manifold's Chern number (non-Abelian FHS), the charge per state, and the
cycles after which a state carried adiabatically along phi (parallel transport inside the manifold, twist 0)
returns to itself, with the Resta polarisation it accumulates on the way.

Harper–Hofstadter bosons (Hafezi, Sørensen, Demler & Lukin, PRA 76, 023613 (2007))::

    H = -J sum_{m,n} [ b_{m+1,n}^+ b_{m,n} + exp(-i 2 pi alpha m) b_{m,n+1}^+ b_{m,n} + h.c. ] + U/2 sum n (n - 1)

on an ``Lx x Ly`` torus (alpha Lx integer; the Landau gauge and sign of :mod:`atompump.theory.hofstadter`), twists
theta_x, theta_y on the bonds that close the torus. At filling ``nu = N / N_phi = 1/2`` (``N_phi = alpha Lx Ly``
flux quanta) with hard-core bosons the ground state is two-fold quasi-degenerate and the manifold's Chern number
over (theta_x, theta_y) has magnitude 1, so ``sigma_xy = C / 2`` per state (Hafezi et al.); its sign is that of
the lowest single-particle band in :mod:`atompump.theory.hofstadter`'s convention (checked with free fermions
filling that band). Laughlin's flux insertion (:func:`flux_insertion_return`) takes one ground state into the
other per flux quantum and back after two, moving -1/2 of a particle along x per quantum. The flux is threaded as a
uniform vector potential (every y bond carries ``exp(-i theta_y / Ly)``), so that the y translation ``T_y`` is
conserved by the adiabatic evolution, and each quantum ends with the large gauge transformation
``exp(2 pi i Y / Ly)`` (Y = sum of the particles' y coordinates) that maps ``H(theta_y = 2 pi)`` back onto
``H(0)``: it raises the total momentum by ``2 pi N / Ly``. The ground states are the ``T_y`` eigenstates of the
manifold; at ``N / Ly = 1/2`` one quantum shifts their momentum by pi, which is the other ground state (Laughlin
on the lattice). Threading the flux through the closing bond alone (the gauge of :meth:`HofstadterBosons.hamiltonian`)
would put the whole EMF on one row of bonds: the y translation is then not conserved during the insertion and
the holonomy of the exactly degenerate manifold mixes the two states, so a state does not come back after two
quanta (it is the same loop but a different adiabatic path through the degenerate manifold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atompump.theory.interacting.fock import MAX_DIMENSION, TermHamiltonian, fock_space
from atompump.theory.interacting.manybody import TorusResult, lowest_states, torus_chern

__all__ = ["SuperlatticeBosons", "FractionalResult", "fractional_pump", "HofstadterBosons", "hofstadter_chern",
           "flux_insertion_return", "transport_cycles"]


class SuperlatticeBosons:
    """Bosons (or, with ``particles="fermions"``, spinless fermions) on a ring with the potential
    ``V cos(2 pi alpha j + phi)`` (see the module docstring)."""

    def __init__(self, *, n_sites: int, n_particles: int, alpha: float, V: float, J: float = 1.0,
                 U: float = 0.0, V1: float = 0.0, max_occupation: int = 1, particles: str = "bosons",
                 interaction_range: int = 1, max_dimension: int = MAX_DIMENSION) -> None:
        if abs(alpha * n_sites - round(alpha * n_sites)) > 1e-9:
            raise ValueError(f"alpha * n_sites must be an integer for a ring, got {alpha} * {n_sites}")
        self.n_sites, self.alpha, self.V, self.J, self.U, self.V1 = int(n_sites), alpha, V, J, U, V1
        self.space = fock_space(n_sites=n_sites, particles=particles, n_particles=n_particles,
                                max_occupation=max_occupation, max_dimension=max_dimension)
        bonds = [(j + 1, j) for j in range(n_sites - 1)] + [(0, n_sites - 1)]
        neighbours = [(j, (j + d) % n_sites) for j in range(n_sites) for d in range(1, interaction_range + 1)]
        self.terms = TermHamiltonian(self.space, bonds, interaction="bose" if particles == "bosons" else None,
                                     neighbours=neighbours)

    def hamiltonian(self, theta: float, phi: float):
        hops = np.full(self.n_sites, -self.J, dtype=complex)
        hops[-1] *= np.exp(-1j * theta)
        onsite = self.V * np.cos(2 * np.pi * self.alpha * np.arange(self.n_sites) + phi)
        return self.terms.matrix(hops, onsite, self.U, self.V1)

    def positions(self) -> np.ndarray:
        """``X = sum_j j n_j`` per basis state (sites)."""
        return self.terms.density @ np.arange(self.n_sites, dtype=float)


def transport_cycles(hamiltonian_along, positions: np.ndarray, length: float, *, m: int, max_cycles: int = 4,
                     steps: int = 48, return_overlap: float = 0.9, closing: np.ndarray | None = None,
                     symmetry=None) -> tuple[int, float, list[float]]:
    """Cycles after which a state of the m-fold ground manifold, carried adiabatically around a loop, returns.

    The loop is ``hamiltonian_along(s)``, ``s`` from 0 to 2 pi (the pump phase at fixed twist, or one flux quantum
    threaded as a twist). The state starts as the manifold state of definite Resta polarisation (the eigenvector
    of the m x m matrix ``Psi^+ exp(2 pi i X / L) Psi`` with the largest modulus, the analogue of one density-wave
    or Laughlin ground state), or, with ``symmetry``, as an eigenstate of that operator in the manifold (a quantum
    number the loop conserves, e.g. the y translation during a uniform flux insertion), is parallel-transported
    (projected on the manifold at each step, normalised) and its polarisation
    ``arg <psi|exp(2 pi i X / L)|psi> / 2 pi`` followed continuously. ``closing`` (diagonal in the Fock basis,
    shape (dimension,)) multiplies the state at the end of each loop when ``hamiltonian_along(2 pi)`` equals
    ``hamiltonian_along(0)`` only up to that gauge transformation: ``closing H(2 pi) closing^+ = H(0)``.

    Returns
    -------
    cycles : int
        First n with ``|<psi(0)|psi(n loops)>| > return_overlap`` (0: not within ``max_cycles``).
    charge_per_cycle : float
        Change of the polarisation over those n loops, divided by n (NaN when it does not return).
    overlaps : list of float
        ``|<psi(0)|psi(n loops)>|`` for n = 1..max_cycles.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _transport(hamiltonian_along, positions, length, m, max_cycles, steps, return_overlap, closing,
                          symmetry)


def _transport(hamiltonian_along, positions, length, m, max_cycles, steps, return_overlap, closing, symmetry):
    phase = np.exp(2j * np.pi * np.asarray(positions, float) / length)
    _, v = lowest_states(hamiltonian_along(0.0), m)
    if symmetry is None:
        w, u = np.linalg.eig(v.conj().T @ (phase[:, None] * v))
        start = int(np.argmax(np.abs(w)))
    else:
        w, u = np.linalg.eig(v.conj().T @ (symmetry @ v))
        start = int(np.argmin(np.abs(np.angle(w))))  # the state of the symmetry's eigenvalue closest to +1
    psi0 = psi = v @ u[:, start]
    psi0 = psi = psi / np.linalg.norm(psi)
    angle = np.angle(np.vdot(psi, phase * psi))
    total, overlaps, back, charge = 0.0, [], 0, float("nan")
    ss = 2 * np.pi * np.arange(1, steps + 1) / steps
    for cycle in range(1, max_cycles + 1):
        for s in ss:
            if closing is not None and s == ss[-1]:
                psi = closing * psi  # back to the gauge of H(0): the loop is closed
            _, v = lowest_states(hamiltonian_along(s % (2 * np.pi)), m)
            psi = v @ (v.conj().T @ psi)
            psi /= np.linalg.norm(psi)
            new = np.angle(np.vdot(psi, phase * psi))
            total += (new - angle + np.pi) % (2 * np.pi) - np.pi
            angle = new
        overlaps.append(float(abs(np.vdot(psi0, psi))))
        if not back and overlaps[-1] > return_overlap:
            back, charge = cycle, total / (2 * np.pi) / cycle
    return back, charge, overlaps


@dataclass(frozen=True)
class FractionalResult:
    """Fractional pump: the q-state manifold's Chern number, charge per state per cycle, cycles to return."""

    chern: TorusResult
    return_cycles: int
    transported_charge_per_cycle: float

    def summary(self) -> dict:
        return {"manifold": self.chern.manifold, "total_chern_number": self.chern.chern_number,
                "chern_raw": round(self.chern.chern_raw, 6), "charge_per_state": self.chern.charge_per_state,
                "return_cycles": self.return_cycles,
                "transported_charge_per_cycle": self.transported_charge_per_cycle,
                "min_gap": self.chern.min_gap, "max_splitting": self.chern.max_splitting,
                "hilbert_dimension": self.chern.dimension}


def fractional_pump(*, n_sites: int = 12, n_particles: int = 2, alpha: float = 1 / 3, V: float = 2.0,
                    J: float = 1.0, U: float = 0.0, V1: float = 8.0, interaction_range: int = 3,
                    max_occupation: int = 1, m: int = 2, n_theta: int = 6, n_phi: int = 18,
                    max_dimension: int = MAX_DIMENSION) -> FractionalResult:
    """Chern number of the m lowest states, the charge per state, and the cycles to return (superlattice bosons)."""
    chain = SuperlatticeBosons(n_sites=n_sites, n_particles=n_particles, alpha=alpha, V=V, J=J, U=U, V1=V1,
                               interaction_range=interaction_range, max_occupation=max_occupation,
                               max_dimension=max_dimension)
    chern = torus_chern(chain.hamiltonian, n_theta=n_theta, n_phi=n_phi, m=m)
    cycles, charge, _ = transport_cycles(lambda phi: chain.hamiltonian(0.0, phi), chain.positions(), n_sites, m=m,
                                         max_cycles=m + 1)
    return FractionalResult(chern=chern, return_cycles=cycles, transported_charge_per_cycle=charge)


class HofstadterBosons:
    """Harper–Hofstadter bosons (or spinless fermions) on an ``Lx x Ly`` torus at flux ``p / q`` per plaquette."""

    def __init__(self, *, Lx: int, Ly: int, p: int, q: int, n_particles: int, U: float | None = None,
                 particles: str = "bosons", J: float = 1.0, max_dimension: int = MAX_DIMENSION) -> None:
        if (p * Lx) % q:
            raise ValueError(f"the flux p/q = {p}/{q} times Lx = {Lx} must be an integer on a torus")
        self.Lx, self.Ly, self.alpha, self.J = Lx, Ly, p / q, J
        hard_core = U is None
        self.U = 0.0 if hard_core else float(U)
        self.space = fock_space(n_sites=Lx * Ly, particles=particles, n_particles=n_particles,
                                max_occupation=1 if hard_core else n_particles, max_dimension=max_dimension)

        def site(mx: int, ny: int) -> int:
            return (mx % Lx) + Lx * (ny % Ly)

        bonds, self._kind = [], []
        for ny in range(Ly):
            for mx in range(Lx):
                bonds.append((site(mx + 1, ny), site(mx, ny)))  # b_{m+1,n}^+ b_{m,n}
                self._kind.append(("x", mx, ny))
                bonds.append((site(mx, ny + 1), site(mx, ny)))
                self._kind.append(("y", mx, ny))
        self.terms = TermHamiltonian(self.space, bonds, interaction="bose" if particles == "bosons" else None)
        self.flux_quanta = p * Lx * Ly / q

    def hamiltonian(self, theta_x: float, theta_y: float):
        """``H`` with the twists on the bonds that close the torus (x bonds of column Lx - 1, y bonds of row Ly - 1)."""
        return self._matrix(lambda mx: theta_x if mx == self.Lx - 1 else 0.0,
                            lambda ny: theta_y if ny == self.Ly - 1 else 0.0)

    def flux_hamiltonian(self, theta_y: float):
        """``H`` with the flux ``theta_y`` threaded uniformly: every y bond carries ``exp(-i theta_y / Ly)``.

        Gauge-equivalent to :meth:`hamiltonian` ``(0, theta_y)`` at fixed ``theta_y``, but commuting with the y
        translation for every ``theta_y`` (the EMF of a changing flux is uniform, not on one row of bonds).
        """
        return self._matrix(lambda mx: 0.0, lambda ny: theta_y / self.Ly)

    def _matrix(self, x_phase, y_phase):
        """``H`` with the phase ``exp(-i x_phase(m))`` on the x bond leaving column m and ``exp(-i y_phase(n))``
        (times the Landau-gauge ``exp(-i 2 pi alpha m)``) on the y bond leaving row n."""
        hops = np.empty(len(self._kind), complex)
        for b, (kind, mx, ny) in enumerate(self._kind):
            if kind == "x":
                hops[b] = -self.J * np.exp(-1j * x_phase(mx))
            else:
                hops[b] = -self.J * np.exp(-2j * np.pi * self.alpha * mx) * np.exp(-1j * y_phase(ny))
        return self.terms.matrix(hops, np.zeros(self.Lx * self.Ly), self.U)

    def coordinate(self, axis: str) -> np.ndarray:
        """Sum of the particles' x (``axis="x"``) or y coordinates per Fock state, sites; shape (dimension,)."""
        cells = np.arange(self.Lx * self.Ly)
        return self.terms.density @ (cells % self.Lx if axis == "x" else cells // self.Lx).astype(float)

    def large_gauge(self) -> np.ndarray:
        """``exp(2 pi i Y / Ly)`` per Fock state: maps :meth:`flux_hamiltonian` ``(2 pi)`` onto ``(0)``."""
        return np.exp(2j * np.pi * self.coordinate("y") / self.Ly)

    def y_translation(self):
        """The y translation by one site, ``(m, n) -> (m, n + 1)``, as a sparse matrix on the Fock basis.

        For fermions each state carries the sign of the permutation that restores the site order of its occupied
        modes (the modes are ordered by site index ``m + Lx n``).
        """
        import scipy.sparse as sparse

        occupations = np.asarray(self.space.occupations)
        cells = np.arange(self.Lx * self.Ly)
        target = cells % self.Lx + self.Lx * ((cells // self.Lx + 1) % self.Ly)
        moved = np.empty_like(occupations)
        moved[:, target] = occupations
        index = {tuple(o): k for k, o in enumerate(occupations)}
        rows = np.array([index[tuple(o)] for o in moved])
        signs = np.ones(len(rows))
        if self.space.fermions:
            for k, o in enumerate(occupations):
                new = target[np.flatnonzero(o)]  # the occupied modes' new sites, in the old creation order
                signs[k] = (-1.0) ** int(np.sum(np.triu(new[:, None] > new[None, :])))  # (-1)^inversions
        dim = occupations.shape[0]
        return sparse.csr_matrix((signs, (rows, np.arange(dim))), shape=(dim, dim))


def hofstadter_chern(system: HofstadterBosons, *, m: int, n_theta: int = 6) -> TorusResult:
    """Chern number of the m lowest states over (theta_x, theta_y) (theta_y in the role of the pump phase)."""
    return torus_chern(system.hamiltonian, n_theta=n_theta, n_phi=n_theta, m=m)


def flux_insertion_return(system: HofstadterBosons, *, m: int = 2, max_quanta: int = 4,
                          steps: int = 24) -> tuple[int, float, list[float]]:
    """Laughlin's flux insertion: flux quanta (theta_y -> theta_y + 2 pi each) after which a ground state returns.

    :func:`transport_cycles` along the uniform flux ``theta_y`` (:meth:`HofstadterBosons.flux_hamiltonian`,
    each quantum closed by :meth:`HofstadterBosons.large_gauge`), starting from the ground state of y momentum
    closest to 0 (an eigenstate of :meth:`HofstadterBosons.y_translation` in the manifold), with the
    polarisation along x (the Hall response to the flux through the y cycle, the pump direction of
    :func:`hofstadter_chern`). Returns the quanta needed, the charge carried along x per quantum (sigma_xy of one
    state: -1/2 at nu = 1/2 in this sign convention) and the overlaps with the start after 1..max_quanta quanta.
    """
    return transport_cycles(system.flux_hamiltonian, system.coordinate("x"), system.Lx, m=m,
                            max_cycles=max_quanta, steps=steps, closing=system.large_gauge(),
                            symmetry=system.y_translation())
