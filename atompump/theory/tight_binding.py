"""Band topology of any Bloch Hamiltonian H(k, phi) on the (k, phi) torus.

Used by the tight-binding models (:mod:`~atompump.theory.rice_mele`, :mod:`~atompump.theory.aubry_andre`,
:mod:`~atompump.theory.hofstadter`, :mod:`~atompump.theory.disorder`). Bands are split into groups separated by
gaps that stay open over the whole torus (the minimum gap is located on the mesh and then polished by a local
minimisation, so touching points between mesh nodes are found); each group gets its Fukui–Hatsugai–Suzuki Chern
number (the non-Abelian version for groups of touching bands), and the mesh is refined until the numbers are
stable integers. Sign: ``physics.md`` (C > 0 when the group's hybrid Wannier centre moves towards +x as phi
increases), for Bloch Hamiltonians in which ``k`` enters through ``exp(i k R)`` with R the cell index along +x.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from atompump.errors import GapClosedError
from atompump.theory.berry import band_groups, berry_curvature, group_vectors, torus_states
from atompump.theory.refine import refine_chern_numbers

__all__ = ["TorusTopology", "torus_topology", "polish_min_gaps", "gap_sums"]

Hamiltonian = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class TorusTopology:
    """Bands and Chern numbers of a Bloch Hamiltonian over the (k, phi) torus.

    Attributes
    ----------
    k, phi : ndarray
        Closed mesh (``k`` in rad per cell, ``phi`` in rad), shapes (n_k + 1,), (n_phi + 1,).
    energies : ndarray, shape (n_k + 1, n_phi + 1, n_bands)
    vectors : ndarray, shape (n_k + 1, n_phi + 1, basis, n_bands)
    groups : list of list of int
        Zero-based band indices of each group of touching bands, lowest first.
    chern_numbers : ndarray of int, shape (n_groups,)
    chern_numbers_raw : ndarray of float, shape (n_groups,)
    min_gaps : ndarray, shape (n_bands - 1,)
        Minimum direct gap between band n and n + 1 over the torus (polished by local minimisation).
    min_gap_location : ndarray, shape (n_bands - 1, 2)
        (k, phi) of each minimum.
    """

    k: np.ndarray
    phi: np.ndarray
    energies: np.ndarray
    vectors: np.ndarray
    groups: list
    chern_numbers: np.ndarray
    chern_numbers_raw: np.ndarray
    min_gaps: np.ndarray
    min_gap_location: np.ndarray

    @property
    def isolated(self) -> bool:
        """True when every band is separated from its neighbours (one Chern number per band)."""
        return all(len(g) == 1 for g in self.groups)

    def band_chern_numbers(self) -> np.ndarray:
        """One Chern number per band; raises :class:`GapClosedError` when two bands touch."""
        if not self.isolated:
            touching = [g for g in self.groups if len(g) > 1][0]
            n = touching[0]
            k, phi = self.min_gap_location[n]
            raise GapClosedError(
                f"bands {n + 1} and {n + 2} touch (gap {self.min_gaps[n]:.2g}) at k = {k:.4f}, "
                f"phi = {phi:.4f} rad ({phi / np.pi:.3f} pi): their separate Chern numbers are undefined; only "
                "their sum is"
            )
        return self.chern_numbers.copy()

    def wannier_group(self, index: int) -> np.ndarray:
        """Vectors of group ``index`` for :func:`~atompump.theory.berry.wannier_centres`."""
        return group_vectors(self.vectors, self.groups[index])


def polish_min_gaps(
    energies_at: Callable[[float, float], np.ndarray],
    k: np.ndarray,
    phi: np.ndarray,
    energies: np.ndarray,
    *,
    n_gaps: int,
    starts: int = 3,
) -> tuple[np.ndarray, np.ndarray]:
    """Minimum direct gaps over the torus: the lowest mesh nodes, polished by Nelder–Mead minimisations.

    Parameters
    ----------
    energies_at : callable
        ``energies_at(k, phi)`` returns the sorted eigen-energies at one point.
    k, phi : ndarray
        Mesh coordinates matching ``energies`` (closed or open).
    energies : ndarray, shape (len(k), len(phi), n)
    n_gaps : int, keyword-only
        The gaps above bands 0..n_gaps-1 are returned.
    starts : int, keyword-only
        Minimisations started from this many of the lowest mesh nodes of each gap.

    Returns
    -------
    gaps : ndarray, shape (n_gaps,)
    location : ndarray, shape (n_gaps, 2)
        (k, phi) of each minimum.
    """
    gaps = np.empty(n_gaps)
    where = np.empty((n_gaps, 2))
    dk = abs(k[1] - k[0])
    dphi = abs(phi[1] - phi[0])
    for n in range(n_gaps):
        g = energies[..., n + 1] - energies[..., n]

        def gap(x, n=n):
            e = energies_at(x[0], x[1])
            return e[n + 1] - e[n]

        # start from the lowest few mesh nodes: a narrow minimum between coarse nodes may not be the lowest node
        best, best_at = np.inf, None
        for flat in np.argsort(g, axis=None)[:starts]:
            i, j = np.unravel_index(flat, g.shape)
            start = np.array([k[i], phi[j]])
            result = minimize(gap, start, method="Nelder-Mead",
                              options={"xatol": 1e-10, "fatol": 1e-13, "maxiter": 600,
                                       "initial_simplex": [start, start + [dk, 0.0], start + [0.0, dphi]]})
            for value, at in ((float(g[i, j]), start), (float(result.fun), result.x)):
                if value < best:
                    best, best_at = value, at
        gaps[n] = best
        where[n] = best_at
    where[:, 1] = np.mod(where[:, 1], 2.0 * np.pi)
    where[where[:, 1] > 2.0 * np.pi - 1e-6, 1] = 0.0  # the optimiser's resolution
    return gaps, where


def torus_topology(
    hamiltonian: Hamiltonian,
    *,
    n_k: int = 24,
    n_phi: int = 48,
    gap_tolerance: float = 1e-6,
    max_refinements: int = 3,
    integer_tolerance: float = 1e-3,
    k_closure: Callable[[np.ndarray], np.ndarray] | None = None,
) -> TorusTopology:
    """Chern numbers of every band (or group of touching bands) of ``hamiltonian(k, phi)``.

    Parameters
    ----------
    hamiltonian : callable
        ``hamiltonian(k, phi)`` -> Hermitian matrices ``k.shape + (n, n)``; periodic in k with period 2 pi
        (unless ``k_closure`` is given) and in phi with period 2 pi.
    n_k, n_phi : int, keyword-only
        Starting mesh, doubled until the Chern numbers are stable integers.
    gap_tolerance : float, keyword-only
        Gaps below this (energy unit of ``hamiltonian``) count as closed: the two bands form one group.
    max_refinements, integer_tolerance : keyword-only
        See :func:`~atompump.theory.refine.refine_chern_numbers`.
    k_closure : callable, optional
        See :func:`~atompump.theory.berry.torus_states`.

    Returns
    -------
    TorusTopology
    """

    def energies_at(k: float, phi: float) -> np.ndarray:
        return np.linalg.eigvalsh(hamiltonian(np.array(k), np.array(phi)))

    def compute(nk: int, nphi: int):
        k, phi, energies, vectors = torus_states(hamiltonian, n_k=nk, n_phi=nphi, k_closure=k_closure)
        n_bands = energies.shape[-1]
        gaps, where = polish_min_gaps(energies_at, k[:-1], phi[:-1], energies[:-1, :-1], n_gaps=n_bands - 1)
        groups = band_groups(gaps, tolerance=gap_tolerance)
        fluxes = [berry_curvature(group_vectors(vectors, g)) for g in groups]
        raw = np.array([f.sum() / (2 * np.pi) for f in fluxes])
        return raw, (k, phi, energies, vectors, groups, gaps, where), max(float(np.abs(f).max()) for f in fluxes)

    rounded, raw, extra, _, _ = refine_chern_numbers(compute, n_k=n_k, n_phi=n_phi, max_refinements=max_refinements,
                                                     integer_tolerance=integer_tolerance)
    k, phi, energies, vectors, groups, gaps, where = extra
    return TorusTopology(k=k, phi=phi, energies=energies, vectors=vectors, groups=groups, chern_numbers=rounded,
                         chern_numbers_raw=raw, min_gaps=gaps, min_gap_location=where)


def gap_sums(topology: TorusTopology) -> list[int | None]:
    """Sum of the Chern numbers of all bands below each gap (None where the gap is closed).

    For a Fermi level in gap r (above band r, r = 1..n_bands-1) this is the charge pumped per cycle (in units of
    the particle charge, towards +x) or, for a Hofstadter lattice, sigma_xy in units of e^2/h.
    """
    n_bands = topology.energies.shape[-1]
    sums: list[int | None] = [None] * (n_bands - 1)
    total = 0
    for group, c in zip(topology.groups, topology.chern_numbers):
        total += int(c)
        top = group[-1]
        if top < n_bands - 1:
            sums[top] = total
    return sums
