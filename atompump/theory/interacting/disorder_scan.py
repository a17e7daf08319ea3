"""Disorder plateaus: the pumped charge against disorder strength, averaged over seeded realisations, per size.

For each ring size and disorder width W (uniform on-site energies in [-W/2, W/2], fixed during the cycle), each
realisation's pumped charge is the Chern number over (twist, phi) of the filled states: free fermions
(:func:`atompump.theory.disorder.disordered_pump`, one particle per cell) or, with ``U`` set, the interacting
ring of :mod:`.hubbard` (exact diagonalisation, small rings only). The charge stays at the clean value C while the
gap above the ground state stays open over the whole torus in every realisation (the plateau), and falls towards
0 once strong disorder closes it (Niu & Thouless, J. Phys. A 17, 2453 (1984)). Reported per (size, W): the mean
charge, the fraction of realisations with the clean value, the typical gap ``exp <ln gap>`` (geometric mean over
realisations, robust against the rare near-closings that dominate an arithmetic mean) and the median gap. The
typical gap shrinks with size at the end of the plateau (more places where the gap can close), which is the
finite-size trend: the plateau's end moves to smaller W and sharpens as the rings grow.

Seeds: realisation r of size N uses ``np.random.default_rng([seed, N])`` drawn in order, so a scan is reproducible
and adding widths or sizes does not change the others' draws per size.
"""

from __future__ import annotations

import numpy as np

from atompump.theory.disorder import disordered_pump
from atompump.theory.rice_mele import RiceMeleCouplings

__all__ = ["disorder_scan"]


def disorder_scan(model: RiceMeleCouplings, widths, *, sizes=(4, 8), n_samples: int = 8, seed: int = 0,
                  U: float | None = None, particles: str = "spinful", n_theta: int = 6, n_phi: int = 24) -> dict:
    """Pumped charge against disorder width for several ring sizes.

    Parameters
    ----------
    model : RiceMeleCouplings
    widths : sequence of float
        Disorder widths W (energy unit of the model).
    sizes : sequence of int, keyword-only
        Ring sizes in cells.
    n_samples : int, keyword-only
        Realisations per (size, W) (the clean W = 0 is computed once).
    seed : int, keyword-only
    U : float or None, keyword-only
        None: free fermions (single-particle path). A number: the interacting ring of ``particles`` with this U.

    Returns
    -------
    dict
        ``widths``, ``sizes``, ``clean_charge`` and per size (lists over widths) ``mean_charge``,
        ``clean_fraction``, ``typical_gap``, ``median_gap``, ``n_samples``, ``seed``.
    """
    widths = [float(w) for w in widths]
    if any(w < 0 or not np.isfinite(w) for w in widths):
        raise ValueError("disorder widths must be finite and >= 0")
    if n_samples < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")

    def one(n_cells: int, onsite) -> tuple[int, float]:
        if U is None:
            r = disordered_pump(model, n_cells=n_cells, onsite=onsite, n_theta=n_theta, n_phi=n_phi)
            return r.pumped_charge, r.min_gap
        from atompump.theory.interacting.hubbard import interacting_pump

        r = interacting_pump(model, n_cells=n_cells, particles=particles, U=U, onsite=onsite, n_theta=n_theta,
                             n_phi=n_phi, resta=False)
        return r.pumped_charge, r.chern.min_gap

    out: dict = {"widths": widths, "sizes": [int(s) for s in sizes], "n_samples": n_samples, "seed": seed,
                 "interaction": U, "per_size": {}}
    clean = None
    for n_cells in sizes:
        rng = np.random.default_rng([seed, int(n_cells)])
        rows = {"mean_charge": [], "clean_fraction": [], "typical_gap": [], "median_gap": []}
        clean_charge, clean_gap = one(n_cells, np.zeros(2 * n_cells))
        clean = clean_charge if clean is None else clean
        for w in widths:
            if w == 0:
                charges, gaps = [clean_charge], [clean_gap]
            else:
                results = [one(n_cells, w * rng.uniform(-0.5, 0.5, 2 * n_cells)) for _ in range(n_samples)]
                charges, gaps = [r[0] for r in results], [r[1] for r in results]
            gaps = np.maximum(np.asarray(gaps, float), 1e-12)
            rows["mean_charge"].append(float(np.mean(charges)))
            rows["clean_fraction"].append(float(np.mean(np.asarray(charges) == clean_charge)))
            rows["typical_gap"].append(float(np.exp(np.mean(np.log(gaps)))))
            rows["median_gap"].append(float(np.median(gaps)))
        out["per_size"][int(n_cells)] = rows
    out["clean_charge"] = clean
    return out
