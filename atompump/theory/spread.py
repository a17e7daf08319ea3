"""Quantum spread of the pumped atoms: the gauge-invariant position spread Omega_I, its bound by the Chern number,
and the shot-to-shot scatter of a measured centre of mass that quantum fluctuations alone would cause.

Position spread per particle. For a filled band (or one atom per Wannier function), the many-body position
``X = sum_i x_i`` of N particles has the quantum variance ``<X^2> - <X>^2 = N Omega_I`` (Souza, Wilkens & Martin,
Phys. Rev. B 62, 1666 (2000)), with the gauge-invariant spread (Marzari & Vanderbilt, Phys. Rev. B 56, 12847
(1997))::

    Omega_I(phi) = (a / 2 pi) int_BZ dk g_kk(k, phi)        (um^2; a = dl, g the quantum metric)

In one dimension a single band's maximally localised Wannier function has exactly this variance
(:func:`atompump.theory.geometry.wannier_spread`), so the same number is the position variance of one atom in it.

Bound. With ``|Omega_{k phi}| <= 2 sqrt(det g) <= 2 sqrt(g_kk g_phiphi)`` and the Cauchy–Schwarz inequality over the
(k, phi) torus, ``2 pi |C| = |int Omega| <= 2 sqrt(int g_kk int g_phiphi)``, i.e. in terms of ``Omega_I``::

    <Omega_I>_phi * G_phiphi >= C^2 dl^2 / 4,   G_phiphi = int_0^{2 pi} dphi int_0^{2 pi} d(k dl) g_phiphi

(``<.>_phi`` the average over one cycle, ``G_phiphi`` dimensionless). A band with C != 0 cannot have Wannier
functions that are both narrow and rigid over the cycle; :func:`spread_bound` checks it on the computed fields.

Scatter of the centre of mass. For N atoms whose positions fluctuate independently (no correlations between atoms:
a Mott insulator or a thermal gas of independent atoms; a filled band of fermions gives the same by the result above),
each atom in band n with probability p_n (an incoherent band mixture), after m pump cycles the position of one atom
has the variance ``sum_n p_n Omega_I,n + (m dl)^2 var_C`` with ``var_C = sum_n p_n C_n^2 - (sum_n p_n C_n)^2``
(a per-particle spread of the displacement over the band mixture, not an uncertainty of the mean nu), and the
centre of mass of the N atoms scatters from shot to shot by (:func:`com_quantum_scatter`)::

    sigma_com = sqrt((sum_n p_n Omega_I,n + (m dl)^2 var_C) / N)

It leaves out everything not quantum: atom-number fluctuations in a trap, imaging noise, drifts. It is a floor,
reached only if those vanish.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["com_quantum_scatter", "quantum_geometry_summary", "spread_bound"]


def spread_bound(bands: xr.Dataset) -> dict:
    """``<Omega_I>_phi``, ``G_phiphi`` and their product against ``C^2 dl^2 / 4`` for each band of a bands Dataset.

    Uses the fields on the locally refined mesh (``quantum_metric_kk_fine``, ``quantum_metric_phiphi_fine`` with the
    nodes ``k_fine_edge``, ``phi_fine_edge``; :func:`atompump.theory.topology.superlattice_topology`), which resolve
    the narrow peaks of the metric at small gaps.

    Returns
    -------
    dict
        ``omega_I_mean_um2`` (per band, um^2: ``(dl / 4 pi^2) int dk dphi g_kk``), ``phase_metric_integral``
        (per band, ``G_phiphi``), ``bound_um2`` (``C^2 dl^2 / 4``), ``bound_ratio`` (``<Omega_I> G / (C^2 dl^2 / 4)``,
        >= 1; None for C = 0), ``curvature_metric_ratio`` (``int 2 sqrt(det g) / (2 pi |C|)``, the intermediate
        bound, >= 1; None for C = 0).
    """
    dl = float(bands.attrs["dl_um"])
    dk = np.diff(bands.k_fine_edge.values)
    dphi = np.diff(bands.phi_fine_edge.values)
    area = dk[:, None] * dphi[None, :]

    def integral(field: xr.DataArray) -> np.ndarray:
        return np.einsum("bij,ij->b", field.values, area)

    omega_i = dl / (4 * np.pi**2) * integral(bands.quantum_metric_kk_fine)
    g_pp = dl * integral(bands.quantum_metric_phiphi_fine)
    det = (bands.quantum_metric_kk_fine * bands.quantum_metric_phiphi_fine - bands.quantum_metric_kphi_fine**2)
    root = integral(2.0 * np.sqrt(det.clip(min=0.0)))
    chern = bands.chern_number.values.astype(int)
    bound = chern**2 * dl**2 / 4.0
    return {
        "omega_I_mean_um2": omega_i.tolist(),
        "phase_metric_integral": g_pp.tolist(),
        "bound_um2": bound.tolist(),
        "bound_ratio": [float(o * g / b) if b > 0 else None for o, g, b in zip(omega_i, g_pp, bound)],
        "curvature_metric_ratio": [float(r / (2 * np.pi * abs(c))) if c else None for r, c in zip(root, chern)],
    }


def com_quantum_scatter(spread_um2: float, atom_number: float, *, cycles: float = 0.0, dl_um: float = 0.0,
                        displacement_spread_dl2: float = 0.0) -> float:
    """Shot-to-shot scatter (um) of the centre of mass of N independent atoms from quantum fluctuations alone.

    ``sqrt((spread_um2 + (cycles dl_um)^2 displacement_spread_dl2) / atom_number)``: ``spread_um2`` the position
    variance per atom (``sum_n p_n Omega_I,n``), ``displacement_spread_dl2`` the per-particle spread of the
    displacement per cycle over the band mixture (``sum p C^2 - (sum p C)^2``). Assumes independent atoms (see the
    module docstring); zero or negative ``atom_number`` raises ValueError.
    """
    if not atom_number > 0:
        raise ValueError(f"the atom number must be positive, got {atom_number}")
    variance = spread_um2 + (cycles * dl_um) ** 2 * displacement_spread_dl2
    return float(np.sqrt(variance / atom_number))


def quantum_geometry_summary(bands: xr.Dataset, populations) -> dict:
    """The quantum geometry block of theory.json: spreads, the bound, the metric inequality on both meshes.

    Parameters
    ----------
    bands : xarray.Dataset
        From :func:`atompump.theory.topology.superlattice_topology` (with the refined fields).
    populations : sequence of float
        Band populations p_n, lowest first.

    Returns
    -------
    dict
        ``omega_I_phi0_um2`` (per band, Omega_I at phi = 0, where full cycles are imaged), ``omega_I_populated_um2``
        (``sum_n p_n Omega_I,n(0)``), :func:`spread_bound`'s keys, ``metric_inequality_violation`` on the refined mesh
        and ``metric_inequality_violation_uniform`` on the uniform one (largest ``(|Omega|/2 - sqrt(det g))`` over the
        band's largest ``|Omega|/2``), ``refined_mesh`` ([n_k, n_phi] plaquettes) and ``com_scatter_formula``.
    """
    from atompump.theory.adaptive import inequality_violation

    p = np.asarray(populations, dtype=float)
    omega0 = bands.wannier_spread.isel(phi_w=0).values
    uniform = inequality_violation(*(bands[n].values for n in ("berry_curvature", "quantum_metric_kk",
                                                               "quantum_metric_phiphi", "quantum_metric_kphi")))
    return {
        "omega_I_phi0_um2": omega0.tolist(),
        "omega_I_populated_um2": float(p @ omega0[: p.size]),
        **spread_bound(bands),
        "metric_inequality_violation": [float(v) for v in bands.attrs["geometry_inequality_violation"]],
        "metric_inequality_violation_uniform": uniform.tolist(),
        "refined_mesh": [int(bands.sizes["k_fine"]), int(bands.sizes["phi_fine"])],
        "com_scatter_formula": "sqrt((omega_I_populated_um2 + (m dl)^2 displacement_variance_dl2) / N) for N "
                               "independent atoms after m cycles",
    }
