"""Stage theory: band topology of the configured lattice and the predicted displacement per cycle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from atompump.config import lattice_params, species
from atompump.errors import ConfigError
from atompump.io.atomic import write_json
from atompump.io.netcdf import write_dataset

__all__ = ['superlattice_scan_stage', 'theory_stage']

Config = Mapping[str, Any]


def theory_stage(out_json: str | os.PathLike, out_bands: str | os.PathLike, out_wannier: str | os.PathLike, *,
                 lattice: Config, theory: Config, atom: str) -> dict:
    """Band topology, Wannier trajectories and the predicted displacement per cycle of the configured lattice.

    Writes ``out_json`` (theory.json), ``out_bands`` (bands.nc: bands, Berry curvature, quantum metric over
    (band, k, phi)) and ``out_wannier`` (wannier.nc: Wannier-centre trajectories and spreads, the Rice-Mele
    couplings over phi, the Wannier functions at phi = 0).
    """
    from atompump.theory.populations import PopulationError
    from atompump.theory.prediction import superlattice_prediction

    params = lattice_params(lattice, species({"atom": atom}))
    temperature = theory.get("temperature_nK")
    try:
        prediction = superlattice_prediction(
            params, n_bands=int(theory["n_bands"]), n_k=int(theory["n_k"]), n_phi=int(theory["n_phi"]),
            n_max=int(theory["n_max"]), populations=theory["band_populations"], temperature_nK=temperature,
            statistics=theory.get("statistics", "boltzmann"), filling=float(theory.get("filling", 1.0)),
            cycle_period_ms=theory.get("cycle_period_ms"))
    except PopulationError as exc:
        keys = "theory.temperature_nK/statistics/filling" if temperature is not None else "theory.band_populations"
        raise ConfigError(f"config keys {keys}: {exc}") from exc
    write_dataset(prediction.bands, out_bands)
    write_dataset(prediction.wannier, out_wannier)
    write_json(out_json, prediction.summary)
    return prediction.summary


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
    write_dataset(scan, out_scan)
    fig = superlattice_scan_figure(scan, lattice=(params.Vs_Er, params.Vl_Er))
    save_figure(fig, out_png)
    save_figure(fig, out_pdf)
