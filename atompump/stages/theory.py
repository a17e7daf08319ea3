"""Stage theory: band topology of the configured lattice and the predicted displacement per cycle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from atompump.config import lattice_params, species
from atompump.errors import ConfigError
from atompump.io.atomic import write_json
from atompump.io.netcdf import write_dataset

__all__ = ['theory_stage']

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
    interacting = _interacting(params, theory)  # checked (Hilbert-space size) before the band calculation
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
    if interacting is not None:
        prediction.summary["interacting"] = interacting
    write_dataset(prediction.bands, out_bands)
    write_dataset(prediction.wannier, out_wannier)
    write_json(out_json, prediction.summary)
    return prediction.summary


def _interacting(params, theory: Config) -> dict | None:
    """The interacting prediction of ``theory.interaction`` (issue 13), None for non-interacting atoms."""
    interaction = theory.get("interaction") or {}
    if interaction.get("particles", "none") == "none":
        return None
    from atompump.theory.interacting.prediction import interacting_prediction

    return interacting_prediction(params, interaction, n_max=int(theory["n_max"]))
