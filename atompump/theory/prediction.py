"""The theory prediction for a superlattice pump: everything the workflow and the command line report.

:func:`superlattice_prediction` combines the band topology (:mod:`~atompump.theory.topology`), the band
populations and non-adiabatic estimate (:mod:`~atompump.theory.populations`), the quantum geometry
(:mod:`~atompump.theory.geometry`), the Wannier functions (:mod:`~atompump.theory.wannier`) and the Rice–Mele
mapping (:mod:`~atompump.theory.rice_mele`) into two Datasets (bands, Wannier) and one JSON-ready summary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from atompump.theory.populations import (
    PopulationError,
    displacement_moments,
)
from atompump.theory.preparation import prepared_populations
from atompump.theory.rice_mele import SampledRiceMele, direct_gap, rice_mele_from_superlattice, winding_chern_number
from atompump.theory.spread import quantum_geometry_summary
from atompump.theory.superlattice import SuperlatticeParams
from atompump.theory.topology import expected_displacement, superlattice_topology
from atompump.theory.wannier import wannier_functions

__all__ = ["Prediction", "superlattice_prediction"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prediction:
    """Bands (see :func:`superlattice_topology`), Wannier data and the summary of a superlattice pump."""

    bands: xr.Dataset
    wannier: xr.Dataset
    summary: dict


def _wannier_dataset(bands: xr.Dataset, rm: SampledRiceMele | None, functions: xr.Dataset | None) -> xr.Dataset:
    ds = xr.Dataset({"wannier_centre": bands.wannier_centre, "wannier_spread": bands.wannier_spread},
                    attrs={"dl_um": bands.attrs["dl_um"],
                           "method": "Wilson-loop hybrid Wannier centres; maximally localised two-band Wannier "
                                     "functions (Marzari-Vanderbilt 1D) for the Rice-Mele couplings"})
    if rm is not None:
        phi = rm.phi
        continuum = (bands.energy.sel(band=2) - bands.energy.sel(band=1)).min("k").interp(phi=phi).values
        coords = {"phi_rm": ("phi_rm", phi, {"units": "rad", "long_name": "superlattice phase (Rice-Mele mapping)"})}
        ds = ds.assign_coords(coords).assign(
            J1=("phi_rm", rm.J1, {"units": "Er,s", "long_name": "Rice-Mele intra-cell hopping J1 (A_j-B_j)"}),
            J2=("phi_rm", rm.J2, {"units": "Er,s", "long_name": "Rice-Mele inter-cell hopping J2 (B_j-A_j+1)"}),
            Delta=("phi_rm", rm.Delta, {"units": "Er,s", "long_name": "Rice-Mele staggered on-site energy (+ on A)"}),
            rm_residual=("phi_rm", rm.residual,
                         {"units": "Er,s", "long_name": "largest coupling beyond the Rice-Mele model"}),
            rm_gap=("phi_rm", direct_gap(phi, rm), {"units": "Er,s", "long_name": "Rice-Mele direct gap"}),
            continuum_gap=("phi_rm", continuum,
                           {"units": "Er,s", "long_name": "continuum direct gap between bands 1 and 2"}),
        )
    if functions is not None:
        ds = ds.assign_coords(site=("site", np.array(["A", "B"]), {"long_name": "double-well site (A at -dl/4, "
                                                                              "B at +dl/4)"}),
                              x=functions.x)
        ds = ds.assign(wannier_function=(("site", "x"), functions.wannier_function.values,
                                         functions.wannier_function.attrs),
                       potential=functions.potential)
        ds.attrs["wannier_function_phi"] = 0.0
    return ds


def _non_adiabatic(bands: xr.Dataset, rm, *, cycle_period_ms: float | None, phi0: float, ramp_ms: float,
                   recoil_hz: float, chern) -> dict | None:
    """Band-averaged non-adiabatic loss of the configured start and period (:mod:`~atompump.theory.nonadiabatic`)
    on the Rice–Mele couplings mapped from the lattice, with the two-band displacement it implies over 0..4 cycles
    (homogeneous band, no trap) and the period for a 1 % loss in the first cycle."""
    import warnings

    from atompump.theory.nonadiabatic import (
        NonAdiabaticWarning,
        estimated_displacement,
        nonadiabatic_loss,
        period_for_band_loss,
        period_in_hbar_units,
    )

    if rm is None or len(chern) < 2:
        return None
    to_hbar = period_in_hbar_units(1e-3, energy_unit_hz=recoil_hz)  # one ms in hbar / Er,s
    ramp = float(ramp_ms) * to_hbar
    out = {
        "method": "band-averaged: the ramp start (first-order adiabatic perturbation theory; truncated crossing at a "
                  "gap minimum) and Landau-Zener crossings combined coherently, on the Rice-Mele couplings mapped "
                  "from the lattice (atompump.theory.nonadiabatic); a homogeneous band without trap",
        "start_phase": float(phi0), "ramp_on_ms": float(ramp_ms), "cycle_period_ms": cycle_period_ms,
        "period_for_1pct_loss_ms": period_for_band_loss(rm, 0.01, start_phase=phi0, ramp_time=ramp, n_k=8) / to_hbar,
    }
    if cycle_period_ms is None:
        return out
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NonAdiabaticWarning)
        estimate = nonadiabatic_loss(rm, period=float(cycle_period_ms) * to_hbar, start_phase=phi0, ramp_time=ramp)
    for w in caught:
        log.warning("non-adiabatic estimate: %s", w.message)
    cycles = np.arange(5.0)
    x = estimated_displacement(estimate, cycles, start_phase=phi0, chern_lower=int(chern[0]),
                               chern_upper=int(chern[1]))
    out.update({
        "loss_first_cycle": estimate.loss, "start_loss": estimate.start, "loss_per_later_cycle": estimate.cycle_loss,
        "loss_first_cycle_T_averaged": estimate.incoherent,
        "crossings": [{"phi": c["phi"], "probability_band_averaged": c["probability"],
                       "probability_min_gap": c["probability_min_gap"], "gap_Er": c["min_gap"],
                       "gap_hz": c["min_gap"] * recoil_hz} for c in estimate.crossings],
        "valid": bool(estimate.valid), "notes": list(estimate.notes),
        "displacement_per_cycle_estimate_dl": float(np.polyfit(cycles, x, 1)[0]),
    })
    return out


def superlattice_prediction(
    params: SuperlatticeParams,
    *,
    n_bands: int = 3,
    n_k: int = 24,
    n_phi: int = 48,
    n_max: int = 10,
    populations=None,
    temperature_nK: float | None = None,
    statistics: str = "boltzmann",
    filling: float = 1.0,
    loading: str = "long_lattice",
    phi0: float = 0.0,
    ramp_ms: float = 0.0,
    cycle_period_ms: float | None = None,
) -> Prediction:
    """Topology, populations, displacement, non-adiabatic estimate, geometry and Rice–Mele map of a superlattice.

    Parameters
    ----------
    params : SuperlatticeParams
    n_bands, n_k, n_phi, n_max : int, keyword-only
        See :func:`~atompump.theory.topology.superlattice_topology`.
    populations : sequence of float, keyword-only
        Band populations p_n (lowest first, sum 1), used when ``temperature_nK`` is None.
    temperature_nK : float, keyword-only
        Temperature of the cloud at loading; the populations then follow from ``statistics`` and ``filling``
        (particles per long-lattice cell) over the bands of the loading lattice on a ring of ``n_k`` cells.
    loading : {"long_lattice", "pump_start"}, keyword-only
        Where the thermal populations form (:mod:`~atompump.theory.preparation`): the long lattice alone, carried
        adiabatically to the pump's start (Lohse et al.), or the pump lattice at ``phi0``.
    phi0 : float, keyword-only
        Phase where the pump's ramp starts, rad.
    ramp_ms : float, keyword-only
        Duration of a smooth (sin^2) ramp-on of the phase velocity, ms (0: a sudden start).
    cycle_period_ms : float, keyword-only
        Duration of one cycle for the non-adiabatic loss estimate (None: only the period for a 1 % loss is given).

    Returns
    -------
    Prediction
    """
    bands = superlattice_topology(params, n_bands=n_bands, n_k=n_k, n_phi=n_phi, n_max=n_max)
    chern = bands.chern_number.values.astype(int)
    recoil_hz = float(bands.attrs["recoil_s_hz"])
    prep = prepared_populations(params, loading="populations" if temperature_nK is None else loading, phi0=phi0,
                                temperature_nK=temperature_nK, statistics=statistics, filling=filling,
                                populations=[1.0] if populations is None else populations, n_bands=n_bands,
                                n_k=int(bands.attrs["n_k"]), n_max=int(bands.attrs["n_max"]))
    p, source, mu = prep.populations, prep.source, prep.chemical_potential_Er
    try:
        nu = expected_displacement(chern, p)
    except ValueError as exc:
        raise PopulationError(str(exc)) from exc
    _, variance = displacement_moments(chern, p)
    spread0 = bands.wannier_spread.isel(phi_w=0).values
    position_spread = float(np.sqrt(p @ spread0[: p.size]))

    rm = functions = None
    rice_mele: dict = {}
    if n_bands >= 2:
        try:
            rm = rice_mele_from_superlattice(params, n_phi=n_phi, n_max=int(bands.attrs["n_max"]))
            functions = wannier_functions(params, 0.0, bands=(0, 1), n_max=int(bands.attrs["n_max"]))
        except ArithmeticError as exc:  # e.g. a sliding lattice: no double wells, no Rice-Mele limit
            log.warning("no Rice-Mele mapping: %s", exc)
            rm = functions = None
            rice_mele = {"error": str(exc)}
    if rm is not None:
        rm_gap = direct_gap(rm.phi, rm)
        rice_mele = {
            "J1_phi0_Er": float(rm.J1[0]),
            "J2_phi0_Er": float(rm.J2[0]),
            "Delta_max_Er": float(np.abs(rm.Delta).max()),
            "min_gap_Er": float(rm_gap.min()),
            "continuum_min_gap_Er": float(bands.min_gap_above.values[0]),
            "chern_number": winding_chern_number(rm),
            "max_residual_Er": float(rm.residual.max()),
            "convention": "J1 on A_j-B_j (A at -dl/4, B at +dl/4), J2 on B_j-A_j+1, +Delta on A; physics.md sign",
        }
    non_adiabatic = _non_adiabatic(bands, rm, cycle_period_ms=cycle_period_ms, phi0=phi0, ramp_ms=ramp_ms,
                                   recoil_hz=recoil_hz, chern=chern)
    wannier = _wannier_dataset(bands, rm, functions)
    summary = {
        "model": "superlattice",
        "chern_numbers": chern.tolist(),
        "min_gaps": bands.min_gap_above.values.tolist(),
        "min_gap_phi": bands.min_gap_phi.values.tolist(),
        "min_gaps_hz": (bands.min_gap_above.values * recoil_hz).tolist(),
        "energy_unit": "Er,s",
        "recoil_s_hz": recoil_hz,
        "band_populations": [float(x) for x in p],
        "band_populations_source": source,
        "chemical_potential_Er": mu,
        "loading_gap_hz": prep.loading_gap_hz,
        "nu_theory": nu,
        "displacement_per_cycle_dl": nu,
        "displacement_variance_dl2": variance,
        "wannier_spread_um": np.sqrt(spread0).tolist(),
        "wannier_spread_max_um": np.sqrt(bands.wannier_spread.max("phi_w").values).tolist(),
        "position_spread_um": position_spread,
        "quantum_geometry": quantum_geometry_summary(bands, p),
        "dl_um": params.dl_um,
        "non_adiabatic": non_adiabatic,
        "rice_mele": rice_mele or None,
        "lattice": {"Vs_Er": params.Vs_Er, "Vl_Er": params.Vl_Er, "lambda_l_nm": params.lambda_l_nm,
                    "mass_amu": params.mass_amu},
        "mesh": {"n_k": int(bands.attrs["n_k"]), "n_phi": int(bands.attrs["n_phi"]),
                 "n_max": int(bands.attrs["n_max"])},
    }
    return Prediction(bands=bands, wannier=wannier, summary=summary)
