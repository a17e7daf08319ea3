"""The Harper–Hofstadter lattice at flux p/q: TKNN Chern numbers, Hall conductance and Laughlin's flux insertion.

    H = -J sum_{m,n} [ c_{m+1,n}^+ c_{m,n} + exp(-i 2 pi alpha m) c_{m,n+1}^+ c_{m,n} + h.c. ],  alpha = p/q

(Landau gauge; flux alpha per plaquette, magnetic cell of q sites along x). A Fourier transform along y turns it
into the Aubry–André chain of :mod:`atompump.theory.aubry_andre` with ``V = -2J`` and ``phi = k_y``: the
magnetic Brillouin zone is that chain's (k, phi) torus, and the band Chern numbers (TKNN) are computed there by
Fukui–Hatsugai–Suzuki with the same orientation. Sign convention (physics.md, with k_y as the pump parameter):
C_n > 0 when band n's hybrid Wannier centre moves towards +x as k_y increases; the Hall conductance of gap r is
``sigma_xy = sum_{n <= r} C_n`` in units of e^2/h, which is also the number of particles that one flux quantum
threaded through a cylinder (periodic in y) carries towards +x. The Diophantine equation (physics.md) gives
``sigma_xy(r) = -t_r`` with ``r = q s_r + p t_r``, ``|t_r| <= q/2`` in this convention (opposite field: +t_r).

Laughlin's argument is checked directly (:func:`laughlin_flux_insertion`): on a strip of ``width`` sites, open in
x and periodic in y with circumference ``n_y``, threading a flux Phi shifts the allowed k_y = 2 pi (n + Phi)/n_y;
following each state adiabatically from Phi = 0 to 1, the edge states that cross the Fermi level in gap r are
counted with their direction and edge: exactly sigma_xy(r) states go from the left edge (x = 0) to the right
one.

References: Hofstadter, Phys. Rev. B 14, 2239 (1976); Thouless, Kohmoto, Nightingale & den Nijs, Phys. Rev. Lett.
49, 405 (1982); Laughlin, Phys. Rev. B 23, 5632 (1981); Halperin, Phys. Rev. B 25, 2185 (1982); Hatsugai, Phys.
Rev. Lett. 71, 3697 (1993).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal
from scipy.optimize import linear_sum_assignment

from atompump.errors import GapClosedError
from atompump.theory import aubry_andre
from atompump.theory.tight_binding import TorusTopology, gap_sums

__all__ = ["HofstadterParams", "bloch_hamiltonian", "hofstadter_topology", "hall_conductance", "tknn_hall_conductance",
           "LaughlinResult", "laughlin_flux_insertion"]


@dataclass(frozen=True)
class HofstadterParams:
    """Flux ``alpha = p / q`` per plaquette (coprime, q <= 24) and hopping ``J`` (the energy unit)."""

    p: int = 1
    q: int = 3
    J: float = 1.0

    def __post_init__(self) -> None:
        self.chain  # validates p, q, J

    @property
    def chain(self) -> aubry_andre.AubryAndreParams:
        """The equivalent Aubry–André chain (V = -2J, phi = k_y)."""
        return aubry_andre.AubryAndreParams(J=self.J, V=-2.0 * self.J, p=self.p, q=self.q)


def bloch_hamiltonian(kx, ky, params: HofstadterParams) -> np.ndarray:
    """Bloch Hamiltonian on the magnetic Brillouin zone (kx per magnetic cell of q sites), shape (..., q, q)."""
    return aubry_andre.bloch_hamiltonian(kx, ky, params.chain)


def hofstadter_topology(params: HofstadterParams, *, n_k: int = 16, n_phi: int = 48) -> TorusTopology:
    """TKNN Chern numbers of the q bands (the two touching central bands of even q grouped)."""
    return aubry_andre.aubry_andre_topology(params.chain, n_k=n_k, n_phi=n_phi)


def hall_conductance(topology: TorusTopology) -> list[int | None]:
    """sigma_xy in units of e^2/h for the Fermi level in each gap r = 1..q-1 (None: gap closed)."""
    return gap_sums(topology)


def tknn_hall_conductance(p: int, q: int) -> list[int | None]:
    """sigma_xy(r) = -t_r from the Diophantine equation, in this module's convention."""
    return [None if t is None else -t for t in aubry_andre.diophantine_t(p, q)]


@dataclass(frozen=True)
class LaughlinResult:
    """Spectral flow of one flux quantum threaded through a cylinder, for the Fermi level in one gap.

    Attributes
    ----------
    gap : int
        The Fermi level is in the middle of gap ``gap`` (above band ``gap``).
    fermi_energy : float
        In units of J.
    to_right : int
        Net number of particles carried to the right edge (x = width - 1): occupied states pushed above the Fermi
        level there minus empty states pulled below it.
    to_left : int
        The same for the left edge (x = 0); ``to_left == -to_right``.
    crossings : list of tuple
        ``(k_y, edge, direction)`` of every crossing of the Fermi level (edge 'left'/'right', direction +1 up).
    """

    gap: int
    fermi_energy: float
    to_right: int
    to_left: int
    crossings: list


def laughlin_flux_insertion(params: HofstadterParams, gaps=None, *, width: int | None = None, n_y: int = 6,
                            flux_steps: int = 64, topology: TorusTopology | None = None) -> list[LaughlinResult]:
    """Thread one flux quantum through a Hofstadter cylinder and count the edge states crossing the Fermi level.

    Threading Phi (in flux quanta) shifts every allowed ``k_y = 2 pi (n + Phi) / n_y``, n = 0..n_y-1; at
    Phi = 1 each path ends where the next one started, so the n_y paths together sweep k_y once over [0, 2 pi].
    Along them each eigenstate of the strip is followed adiabatically (matched to the next step by maximum
    overlap) and every crossing of the Fermi level is counted with its direction and the edge the state sits on.

    Parameters
    ----------
    params : HofstadterParams
    gaps : sequence of int, optional
        Gap indices r (1..q-1; the Fermi level in the middle of the bulk gap above band r). Default: every open
        gap.
    width : int, keyword-only
        Sites across the strip (default ``12 q``).
    n_y : int, keyword-only
        Circumference of the cylinder in sites.
    flux_steps : int, keyword-only
        Steps of Phi from 0 to 1.
    topology : TorusTopology, optional
        Bulk bands (computed if not given), for the position of the gaps.

    Returns
    -------
    list of LaughlinResult, one per gap

    Raises
    ------
    GapClosedError
        If a requested bulk gap is closed (q even, r = q/2).
    """
    q = params.q
    topology = topology or hofstadter_topology(params)
    bulk = topology.energies
    if gaps is None:
        gaps = [r for r in range(1, q) if bulk[..., r].min() > bulk[..., r - 1].max()]
    fermi = {}
    for r in gaps:
        if not 1 <= r <= q - 1:
            raise ValueError(f"gap must be between 1 and {q - 1} for q = {q}, got {r}")
        e_low, e_high = bulk[..., r - 1].max(), bulk[..., r].min()
        if e_high - e_low < 1e-6 * abs(params.J):
            raise GapClosedError(f"the bulk gap above band {r} is closed for p/q = {params.p}/{q} "
                                 f"(bands {r} and {r + 1} meet): no Hall plateau, no quantised flux transfer")
        fermi[r] = 0.5 * (e_low + e_high)
    width = width or 12 * q
    x = np.arange(width)
    ky_path = 2 * np.pi * np.arange(n_y * flux_steps + 1) / (n_y * flux_steps)
    crossings: dict[int, list] = {r: [] for r in gaps}
    previous = None
    for ky in ky_path:
        h = aubry_andre.strip_hamiltonian(ky, width, params.chain)
        e, v = eigh_tridiagonal(np.diag(h).copy(), np.diag(h, 1).copy())  # the strip is a tridiagonal chain
        if previous is not None:
            pe, pv = previous
            rows, cols = linear_sum_assignment(-np.abs(pv.T @ v))
            for r, ef in fermi.items():
                for a, b in zip(rows, cols):
                    if (pe[a] < ef) != (e[b] < ef):
                        edge = "right" if v[:, b] ** 2 @ x > (width - 1) / 2 else "left"
                        crossings[r].append((float(ky), edge, 1 if e[b] > pe[a] else -1))
        previous = (e, v)
    results = []
    for r in gaps:
        to_right = sum(d for _, edge, d in crossings[r] if edge == "right")
        to_left = sum(d for _, edge, d in crossings[r] if edge == "left")
        results.append(LaughlinResult(gap=r, fermi_energy=float(fermi[r]), to_right=to_right, to_left=to_left,
                                      crossings=crossings[r]))
    return results
