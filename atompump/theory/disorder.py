"""Charge pumped per cycle in a disordered Rice–Mele chain, with twisted boundary conditions.

A ring of ``n_cells`` Rice–Mele cells (:func:`atompump.theory.rice_mele.real_space_hamiltonian`) gets on-site
disorder ``w_j`` drawn uniformly from [-W/2, W/2] (fixed during the cycle) and a twist theta of its boundary
condition, ``psi(x + L) = exp(i theta) psi(x)``. With the lower half of the spectrum filled (one particle per
cell, the lower Rice–Mele band of the clean chain), the charge pumped through the ring per cycle, averaged over
the twist, is the Chern number of the filled states over the (theta, phi) torus (Niu & Thouless, J. Phys. A 17,
2453 (1984); Niu, Thouless & Wu, Phys. Rev. B 31, 3372 (1985)). It is an integer, equal to the clean value, as
long as the many-body gap (between state N and N + 1, N = n_cells) stays open over the whole torus; strong
disorder closes that gap on the way and the charge changes (for W much larger than the bandwidth every state
is pinned to a site and nothing is pumped: C = 0). Sign: physics.md (positive towards +x).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from atompump.theory.berry import berry_curvature, torus_states
from atompump.theory.refine import bisect_integer_change, refine_chern_numbers
from atompump.theory.rice_mele import RiceMeleCouplings, real_space_hamiltonian
from atompump.theory.tight_binding import polish_min_gaps

__all__ = ["DisorderResult", "disordered_pump", "disorder_average", "disorder_transition"]


@dataclass(frozen=True)
class DisorderResult:
    """Pumped charge per cycle of one disorder realisation.

    Attributes
    ----------
    pumped_charge : int
        Chern number of the filled states over (twist, phi).
    pumped_charge_raw : float
        The FHS sum before rounding.
    min_gap : float
        Minimum many-body gap (state N+1 minus state N) over the torus, energy unit of the model: the lowest mesh
        nodes polished by a local minimisation, so an upper bound that can miss minima narrower than the mesh
        (pass a finer ``n_theta``, ``n_phi`` near a transition).
    onsite : ndarray
        The disorder realisation (2 n_cells on-site energies).
    """

    pumped_charge: int
    pumped_charge_raw: float
    min_gap: float
    onsite: np.ndarray


def disordered_pump(model: RiceMeleCouplings, *, n_cells: int = 8, disorder: float = 0.0,
                    rng: np.random.Generator | None = None, onsite=None, n_theta: int = 8,
                    n_phi: int = 32, max_refinements: int = 3) -> DisorderResult:
    """Pumped charge per cycle of a Rice–Mele ring with on-site disorder of width ``disorder``.

    Parameters
    ----------
    model : RiceMeleCouplings
    n_cells : int, keyword-only
        Cells of the ring (2 n_cells sites); n_cells particles fill the lower half.
    disorder : float, keyword-only
        Full width W of the uniform on-site distribution (energy unit of ``model``).
    rng : numpy.random.Generator, keyword-only
        Source of the disorder (``np.random.default_rng(seed)``); required when ``disorder > 0`` and
        ``onsite`` is not given.
    onsite : array_like, keyword-only
        An explicit realisation instead (shape (2 n_cells,)).
    n_theta, n_phi : int, keyword-only
        Starting torus mesh (refined until the charge is a stable, resolved integer).
    max_refinements : int, keyword-only
        At most this many mesh doublings (then a RuntimeWarning says the charge is not trusted).
    """
    if disorder < 0 or not np.isfinite(disorder):
        raise ValueError(f"disorder must be a width >= 0, got {disorder}")
    if onsite is None:
        if disorder > 0 and rng is None:
            raise ValueError("pass rng=np.random.default_rng(seed) (or an explicit onsite realisation)")
        onsite = (rng.uniform(-0.5, 0.5, 2 * n_cells) * disorder) if disorder > 0 else np.zeros(2 * n_cells)
    onsite = np.asarray(onsite, float)

    n_sites = 2 * n_cells

    def hamiltonian(theta, phi):
        theta, phi = np.broadcast_arrays(np.asarray(theta, float), np.asarray(phi, float))
        phases, index = np.unique(phi.ravel(), return_inverse=True)
        chains = np.stack([real_space_hamiltonian(model, p, n_cells, onsite=onsite) for p in phases])
        h = chains[index].reshape(theta.shape + (n_sites, n_sites))
        # close the ring: the bond B_{N-1} - A_N = A_0 with the twist, as in real_space_hamiltonian
        j2 = model.couplings(phi)[1]
        h[..., n_sites - 1, 0] += -j2 * np.exp(1j * theta)
        h[..., 0, n_sites - 1] += -j2 * np.exp(-1j * theta)
        return h

    def compute(n_t: int, n_p: int):
        theta, phi, energies, vectors = torus_states(hamiltonian, n_k=n_t, n_phi=n_p)
        flux = berry_curvature(vectors[..., :n_cells])
        return np.array([flux.sum() / (2 * np.pi)]), (theta, phi, energies), float(np.abs(flux).max())

    rounded, raw, (theta, phi, energies), _, _ = refine_chern_numbers(compute, n_k=n_theta, n_phi=n_phi,
                                                                       max_refinements=max_refinements,
                                                                       what="pumped charge")

    def energies_at(t, p):
        return np.linalg.eigvalsh(hamiltonian(np.array(t), np.array(p)))

    sub = energies[:-1, :-1, n_cells - 1:n_cells + 1]
    gap, _ = polish_min_gaps(lambda t, p: energies_at(t, p)[n_cells - 1:n_cells + 1], theta[:-1], phi[:-1], sub,
                             n_gaps=1)
    return DisorderResult(pumped_charge=int(rounded[0]), pumped_charge_raw=float(raw[0]), min_gap=float(gap[0]),
                          onsite=onsite)


def disorder_average(model: RiceMeleCouplings, disorders, *, n_samples: int, seed: int, n_cells: int = 8,
                     **kwargs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean pumped charge, the fraction of samples with the clean value, and the median gap, per disorder width.

    Returns
    -------
    mean_charge, clean_fraction, median_gap : ndarray, shape (len(disorders),)
    """
    rng = np.random.default_rng(seed)
    clean = disordered_pump(model, n_cells=n_cells, **kwargs).pumped_charge
    mean, fraction, median = [], [], []
    for w in disorders:
        results = [disordered_pump(model, n_cells=n_cells, disorder=float(w), rng=rng, **kwargs)
                   for _ in range(n_samples)]
        charges = np.array([r.pumped_charge for r in results])
        mean.append(charges.mean())
        fraction.append(np.mean(charges == clean))
        median.append(np.median([r.min_gap for r in results]))
    return np.array(mean), np.array(fraction), np.array(median)


def disorder_transition(model: RiceMeleCouplings, pattern, *, w_low: float, w_high: float, steps: int = 14,
                        n_cells: int | None = None, **kwargs) -> tuple[float, DisorderResult, DisorderResult]:
    """Bisect the disorder strength at which the pumped charge of one realisation changes.

    The on-site energies are ``W * pattern`` (a fixed shape, e.g. ``rng.uniform(-0.5, 0.5, 2 n_cells)``). The
    charge at ``w_low`` and ``w_high`` must differ; since it is an integer that can only change where the
    many-body gap closes, the gap at the returned strength tends to 0 as ``steps`` grows.

    Returns
    -------
    w_star : float
        Midpoint of the final bracket.
    low, high : DisorderResult
        The realisations at the bracket's ends (different charges, both gaps small).
    """
    pattern = np.asarray(pattern, float)
    n_cells = n_cells or pattern.size // 2

    def at(w: float) -> DisorderResult:
        return disordered_pump(model, n_cells=n_cells, onsite=w * pattern, **kwargs)

    return bisect_integer_change(at, low=w_low, high=w_high, steps=steps, value=lambda r: r.pumped_charge,
                                 name="W")
