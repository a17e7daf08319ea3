"""Stage theory: band topology of the configured lattice and the predicted displacement per cycle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from atompump.config import config_keys, lattice_params, species
from atompump.errors import ConfigError
from atompump.io.atomic import write_json
from atompump.io.netcdf import write_dataset

__all__ = ['THEORY_KEYS', 'prediction_stage', 'superlattice_scan_stage', 'theory_stage']

Config = Mapping[str, Any]

#: The config key of each parameter the theory's errors name.
THEORY_KEYS = {"n_bands": "theory.n_bands", "n_max": "theory.n_max", "n_k": "theory.n_k", "n_phi": "theory.n_phi"}


def theory_stage(out_json: str | os.PathLike, out_bands: str | os.PathLike, out_wannier: str | os.PathLike, *,
                 lattice: Config, theory: Config, atom: str, pump: Config) -> dict:
    """Band topology, Wannier trajectories and the predicted displacement per cycle of the configured lattice.

    Writes ``out_json`` (theory.json), ``out_bands`` (bands.nc: bands, Berry curvature, quantum metric over
    (band, k, phi)) and ``out_wannier`` (wannier.nc: Wannier-centre trajectories and spreads, the Rice-Mele
    couplings over phi, the Wannier functions at phi = 0). ``pump`` is the pump sequence as run (period, start
    phase, loading path, temperature; the same section the simulator runs).
    """
    from atompump.theory.populations import PopulationError
    from atompump.theory.prediction import superlattice_prediction

    params = lattice_params(lattice, species({"atom": atom}))
    interacting = _interacting(params, theory)  # checked (Hilbert-space size) before the band calculation
    loading = str(pump["loading"])
    with config_keys(THEORY_KEYS):
        try:
            prediction = superlattice_prediction(
                params, n_bands=int(theory["n_bands"]), n_k=int(theory["n_k"]), n_phi=int(theory["n_phi"]),
                n_max=int(theory["n_max"]), populations=pump["band_populations"],
                temperature_nK=None if loading == "populations" else float(pump["temperature_nK"]),
                statistics=str(pump["statistics"]), filling=float(pump["filling"]),
                loading="long_lattice" if loading == "populations" else loading, phi0=float(pump["phi0"]),
                ramp_ms=float(pump["ramp_on_ms"]),
                cycle_period_ms=float(pump["period_ms"]))
        except PopulationError as exc:
            keys = "pump.band_populations" if loading == "populations" else "pump.temperature_nK/statistics/filling"
            raise ConfigError(f"config keys {keys}: {exc.render(THEORY_KEYS)}") from exc
    if interacting is not None:
        prediction.summary["interacting"] = interacting
    write_dataset(prediction.bands, out_bands, title="atompump theory: Bloch bands, Berry curvature, quantum metric")
    write_dataset(prediction.wannier, out_wannier,
                  title="atompump theory: Wannier centres and functions, Rice-Mele couplings")
    write_json(out_json, prediction.summary)
    return prediction.summary


def prediction_stage(out_json: str | os.PathLike, *, theory: Config, pump: Config, numerics: Config,
                     tight_binding: Config, lattice: Config, atom: str, cycles=None,
                     dynamics_path: str | os.PathLike | None = None) -> dict:
    """The full prediction of the configured pump sequence: the exact dynamics of the shared model.

    Writes ``out_json`` (prediction.json): the centre of mass after each pump cycle in each direction from
    :func:`atompump.simulate.run.predicted_centres` (``theory.dynamics``: tight_binding or continuum; the
    simulator's own code and model, with ``pump`` (period, start, ramp, trap, cloud, loading, temperature) and the
    numerics of ``simulation.pump``), from which the fit stage forms ``nu_theory`` for the shots of the run.
    ``theory.dynamics: none`` writes no centres; ``nu_theory`` is then ``sum_n p_n C_n``.

    ``cycles`` are the run's pump cycles when known (:func:`atompump.config.planned_cycles`); else 0..4, and
    the fit extends the last cycle's displacement to longer runs. ``dynamics_path`` is a simulated run's
    ``dynamics.nc``: reused when it is the same computation (:func:`atompump.simulate.run.predicted_centres`).
    """
    from atompump.simulate.run import predicted_centres
    from atompump.stages.simulate import THEORY_DYNAMICS_KEYS, dynamics_params

    model = str(theory["dynamics"])
    if model == "none":
        summary = {"method": "none: nu_theory is sum_n p_n C_n (adiabatic, no trap)"}
    else:
        config = {"pump": pump, "simulation": {"pump": numerics, "tight_binding": tight_binding}, "lattice": lattice,
                  "atom": atom}
        dyn = dynamics_params(config, model=model)
        whole = [float(c) for c in (cycles if cycles else range(5))]
        computed = None
        if dynamics_path is not None:
            from atompump.io.netcdf import read_dataset

            computed = read_dataset(dynamics_path)
        with config_keys(THEORY_DYNAMICS_KEYS):
            centres = predicted_centres(dyn, cycles=whole, computed=computed)
        summary = {"method": f"exact {model} dynamics of the pump sequence (section pump), as the simulator's",
                   **centres}
    write_json(out_json, summary)
    return summary


def superlattice_scan_stage(out_scan: str | os.PathLike, out_png: str | os.PathLike, out_pdf: str | os.PathLike, *,
                            lattice: Config, theory: Config, atom: str) -> None:
    """The band Chern numbers over a grid of (Vs, Vl) around the configured lattice (``report.superlattice_scan``).

    Writes ``out_scan`` (netCDF: :func:`atompump.theory.scan.superlattice_chern_scan` on
    :func:`atompump.theory.scan.report_grid`) and the figure as PNG and PDF, with the configured lattice marked.
    """
    from atompump.report.figures import save_figure
    from atompump.report.theory_figures import superlattice_scan_figure
    from atompump.theory.scan import report_grid, superlattice_chern_scan

    params = lattice_params(lattice, species({"atom": atom}))
    vs, vl = report_grid(params.Vs_Er, params.Vl_Er)
    scan = superlattice_chern_scan(vs, vl, n_bands=int(theory["n_bands"]), lambda_l_nm=params.lambda_l_nm,
                                   mass_amu=params.mass_amu)
    write_dataset(scan, out_scan, title="atompump theory: Chern numbers over the superlattice depths")
    fig = superlattice_scan_figure(scan, lattice=(params.Vs_Er, params.Vl_Er))
    save_figure(fig, out_png)
    save_figure(fig, out_pdf)


def _interacting(params, theory: Config) -> dict | None:
    """The interacting prediction of ``theory.interaction`` (issue 13), None for non-interacting atoms."""
    interaction = theory["interaction"]
    if interaction["particles"] == "none":
        return None
    from atompump.theory.interacting.prediction import interacting_prediction

    with config_keys({key: f"theory.interaction.{key}" for key in interaction}):
        return interacting_prediction(params, **interaction, n_max=int(theory["n_max"]))
