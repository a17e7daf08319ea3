"""Fock bases and sparse Hamiltonians for exact diagonalisation of lattice models with a fixed particle number.

A *mode* is one single-particle orbital: a site for spinless fermions and bosons, a (site, spin) pair for spinful
fermions (mode ``site + spin * n_sites``, all spin-up modes first). A basis state is an occupation vector
``occ[mode]`` (0/1 for fermions, 0..``max_occupation`` for bosons), encoded as the integer
``sum_m occ[m] * base**m`` with ``base = max_occupation + 1`` (a bit string for fermions); states are kept sorted
by that code, so a state's index is one :func:`numpy.searchsorted`.

Operators
    ``c_a^+ c_b`` moves a particle from mode b to mode a. Bosons: amplitude ``sqrt(n_b (n_a + 1))``. Fermions
    (Jordan–Wigner order = mode order): amplitude ``(-1)^(number of occupied modes strictly between a and b)``.

:class:`TermHamiltonian` keeps the sparsity pattern of every hopping bond and every diagonal term once, so that
``H(theta, phi)`` for a new twist and pump phase costs one pass over the nonzeros (no re-enumeration of the
basis): ``H = sum_b (h_b c_{i_b}^+ c_{j_b} + h.c.) + sum_i e_i n_i + U * D``, with complex bond amplitudes
``h_b``, on-site energies ``e_i`` and a fixed diagonal interaction ``D`` (Hubbard: ``n_up n_down`` per site;
bosons: ``n (n - 1) / 2`` per site).

Everything is plain ``numpy``/``scipy.sparse`` (see :mod:`atompump.theory.interacting` for why no ED library).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb

import numpy as np
import scipy.sparse as sp

from atompump.errors import ParameterError, literal

__all__ = ["FockSpace", "fock_space", "space_dimension", "check_dimension", "TermHamiltonian", "MAX_DIMENSION"]

#: Default largest Hilbert-space dimension accepted (about 1.5 GB for the torus states of a Chern number).
MAX_DIMENSION = 2_000_000


def _compositions(n_particles: int, n_modes: int, max_occupation: int) -> np.ndarray:
    """All occupation vectors of ``n_modes`` modes with ``n_particles`` in total and at most ``max_occupation``
    each, shape (n_states, n_modes), built mode by mode (vectorised)."""
    states = np.zeros((1, 0), dtype=np.int8)
    totals = np.zeros(1, dtype=np.int64)
    for mode in range(n_modes):
        remaining_capacity = (n_modes - mode - 1) * max_occupation
        new_states, new_totals = [], []
        for n in range(max_occupation + 1):
            t = totals + n
            keep = (t <= n_particles) & (t + remaining_capacity >= n_particles)
            if keep.any():
                new_states.append(np.hstack([states[keep], np.full((keep.sum(), 1), n, dtype=np.int8)]))
                new_totals.append(t[keep])
        states = np.vstack(new_states)
        totals = np.concatenate(new_totals)
    return states


def space_dimension(*, n_sites: int, particles: str, n_particles: int | tuple[int, int],
                    max_occupation: int = 1) -> int:
    """Hilbert-space dimension without building the basis (for the check at the door).

    ``particles``: ``"fermions"`` (spinless), ``"spinful"`` (``n_particles = (n_up, n_down)``) or ``"bosons"``.
    """
    if particles == "spinful":
        n_up, n_down = n_particles  # type: ignore[misc]
        return comb(n_sites, n_up) * comb(n_sites, n_down)
    if particles == "fermions":
        return comb(n_sites, int(n_particles))  # type: ignore[arg-type]
    # bosons: coefficient of x^N in (1 + x + ... + x^nmax)^L
    poly = np.zeros(int(n_particles) + 1, dtype=object)  # type: ignore[arg-type]
    poly[0] = 1
    for _ in range(n_sites):
        new = np.zeros_like(poly)
        for n in range(min(max_occupation, int(n_particles)) + 1):  # type: ignore[arg-type]
            new[n:] += poly[:poly.size - n]
        poly = new
    return int(poly[-1])


def check_dimension(dimension: int, *, max_dimension: int = MAX_DIMENSION, what: str = "",
                    lower: str = "the number of sites, the particles or the maximum occupation",
                    parameters: tuple[str, ...] = ()) -> None:
    """Raise :class:`~atompump.errors.ParameterError` with the size and what to lower when ``dimension`` is too big
    (``lower`` may name ``parameters`` as ``{name}`` placeholders)."""
    if dimension > max_dimension:
        raise ParameterError(literal(
            f"{what + ': ' if what else ''}the Hilbert space has dimension {dimension:,}, above the limit "
            f"{max_dimension:,} (about {16 * dimension * 40 / 1e9:.1f} GB for the sparse Hamiltonian and the torus "
            "states); lower ") + lower, parameters=parameters)


@dataclass(frozen=True)
class FockSpace:
    """A fixed-particle-number Fock basis.

    Attributes
    ----------
    occupations : ndarray, shape (dimension, n_modes), int8
    codes : ndarray, shape (dimension,), int64
        Sorted integer codes of the states.
    n_sites : int
    n_species : int
        1 (spinless fermions, bosons) or 2 (spinful fermions: modes ``site + spin * n_sites``).
    fermions : bool
    max_occupation : int
    """

    occupations: np.ndarray
    codes: np.ndarray
    n_sites: int
    n_species: int
    fermions: bool
    max_occupation: int

    @property
    def dimension(self) -> int:
        return int(self.codes.size)

    @property
    def base(self) -> int:
        return self.max_occupation + 1

    def site_density(self) -> np.ndarray:
        """Particles on each site in each basis state, shape (dimension, n_sites) (species summed)."""
        occ = self.occupations.astype(np.int64)
        return occ.reshape(occ.shape[0], self.n_species, self.n_sites).sum(axis=1)

    def index(self, codes: np.ndarray) -> np.ndarray:
        """Basis indices of states given by their codes (which must be in the basis)."""
        return np.searchsorted(self.codes, codes)

    def hopping(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Nonzeros ``(rows, cols, amplitudes)`` of ``c_a^+ c_b`` (a != b modes)."""
        occ = self.occupations
        ok = (occ[:, b] > 0) & (occ[:, a] < self.max_occupation)
        cols = np.nonzero(ok)[0]
        nb = occ[cols, b].astype(float)
        na = occ[cols, a].astype(float)
        weights = self.base ** np.arange(occ.shape[1], dtype=np.int64)
        rows = self.index(self.codes[cols] + weights[a] - weights[b])
        if self.fermions:
            lo, hi = min(a, b), max(a, b)
            between = occ[cols, lo + 1:hi].sum(axis=1) if hi > lo + 1 else np.zeros(cols.size)
            amps = np.where(between % 2 == 0, 1.0, -1.0)
        else:
            amps = np.sqrt(nb * (na + 1.0))
        return rows, cols, amps


def fock_space(*, n_sites: int, particles: str, n_particles: int | tuple[int, int],
               max_occupation: int = 1, max_dimension: int = MAX_DIMENSION) -> FockSpace:
    """The basis of ``n_particles`` on ``n_sites`` sites.

    Parameters
    ----------
    n_sites : int, keyword-only
    particles : {"fermions", "spinful", "bosons"}, keyword-only
        Spinless fermions, spin-1/2 fermions (``n_particles = (n_up, n_down)``) or bosons.
    n_particles : int or (int, int), keyword-only
    max_occupation : int, keyword-only
        Bosons only: at most this many per site (1: hard-core bosons).
    max_dimension : int, keyword-only
        Refuse larger spaces with a :class:`~atompump.errors.ParameterError` naming the size.
    """
    if particles not in ("fermions", "spinful", "bosons"):
        raise ValueError(f"particles must be 'fermions', 'spinful' or 'bosons', got {particles!r}")
    if n_sites < 2:
        raise ValueError(f"need at least 2 sites, got {n_sites}")
    nmax = int(max_occupation) if particles == "bosons" else 1
    if nmax < 1:
        raise ValueError(f"max_occupation must be >= 1, got {max_occupation}")
    counts = tuple(n_particles) if particles == "spinful" else (int(n_particles),)  # type: ignore[arg-type]
    for n in counts:
        if not 0 <= n <= n_sites * nmax:
            raise ValueError(f"{n} particles do not fit on {n_sites} sites (max occupation {nmax})")
    check_dimension(space_dimension(n_sites=n_sites, particles=particles, n_particles=n_particles,
                                    max_occupation=nmax), max_dimension=max_dimension)
    if particles == "spinful":
        up = _compositions(counts[0], n_sites, 1)
        down = _compositions(counts[1], n_sites, 1)
        occ = np.hstack([np.repeat(up, len(down), axis=0), np.tile(down, (len(up), 1))])
    else:
        occ = _compositions(counts[0], n_sites, nmax)
    weights = (nmax + 1) ** np.arange(occ.shape[1], dtype=np.int64)
    codes = occ.astype(np.int64) @ weights
    order = np.argsort(codes)
    return FockSpace(occupations=occ[order], codes=codes[order], n_sites=n_sites,
                     n_species=2 if particles == "spinful" else 1, fermions=particles != "bosons",
                     max_occupation=nmax)


class TermHamiltonian:
    """``H = sum_b (h_b c_{i_b}^+ c_{j_b} + h.c.) + sum_i e_i n_i + U * D`` with a precomputed sparsity pattern.

    Parameters
    ----------
    space : FockSpace
    bonds : sequence of (int, int)
        Site pairs (i, j), i != j, each bond once (its Hermitian conjugate is added); for spinful fermions each
        bond hops both spins with the same amplitude.
    interaction : {"hubbard", "bose", None}
        ``D = sum_i n_{i,up} n_{i,down}`` (spinful fermions) or ``sum_i n_i (n_i - 1) / 2`` (bosons).
    neighbours : sequence of (int, int), optional
        Site pairs of a density-density interaction ``V1 sum_<ij> n_i n_j`` (its strength is passed to
        :meth:`matrix`).
    """

    def __init__(self, space: FockSpace, bonds, *, interaction: str | None = None, neighbours=()) -> None:
        self.space = space
        self.bonds = [(int(i), int(j)) for i, j in bonds]
        rows, cols, amps, term = [], [], [], []
        n = space.n_sites
        for b, (i, j) in enumerate(self.bonds):
            if i == j:
                raise ValueError(f"bond {b} joins site {i} to itself")
            for s in range(space.n_species):
                r, c, a = space.hopping(i + s * n, j + s * n)
                rows += [r, c]
                cols += [c, r]
                amps += [a, a]
                term += [np.full(r.size, 2 * b), np.full(r.size, 2 * b + 1)]  # even: h_b, odd: conj(h_b)
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        order = np.lexsort((cols, rows))
        self._indices = cols[order].astype(np.int32)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=space.dimension))]).astype(np.int32)
        self._amps = np.concatenate(amps)[order]
        self._term = np.concatenate(term)[order]
        self.density = space.site_density().astype(float)  # (dim, n_sites)
        if interaction == "hubbard":
            occ = space.occupations.astype(float)
            self.interaction = (occ[:, :n] * occ[:, n:]).sum(axis=1)
        elif interaction == "bose":
            d = self.density
            self.interaction = 0.5 * (d * (d - 1)).sum(axis=1)
        elif interaction is None:
            self.interaction = np.zeros(space.dimension)
        else:
            raise ValueError(f"interaction must be 'hubbard', 'bose' or None, got {interaction!r}")
        d = self.density
        self.neighbour_interaction = sum((d[:, i] * d[:, j] for i, j in neighbours), np.zeros(space.dimension))

    @property
    def dimension(self) -> int:
        return self.space.dimension

    def diagonal(self, onsite, U: float = 0.0, V1: float = 0.0) -> np.ndarray:
        """The diagonal ``sum_i e_i n_i + U D + V1 sum_<ij> n_i n_j``, shape (dimension,)."""
        out = self.density @ np.asarray(onsite, float) + U * self.interaction
        return out + V1 * self.neighbour_interaction if V1 else out

    def matrix(self, hoppings, onsite, U: float = 0.0, V1: float = 0.0) -> sp.csr_matrix:
        """The Hamiltonian for bond amplitudes ``hoppings`` (complex, one per bond) and on-site energies ``onsite``.

        The off-diagonal part and the diagonal are returned as one CSR matrix (diagonal added)."""
        h = np.asarray(hoppings, complex)
        coefficients = np.empty(2 * h.size, complex)
        coefficients[0::2] = h
        coefficients[1::2] = np.conj(h)
        off = sp.csr_matrix((coefficients[self._term] * self._amps, self._indices, self._indptr),
                            shape=(self.dimension, self.dimension))
        return off + sp.diags(self.diagonal(onsite, U, V1), format="csr")
