"""Stage theory: band topology of the configured lattice and the predicted displacement per cycle."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from atompump.config import lattice_params, species
from atompump.io.atomic import write_json
from atompump.io.netcdf import write_dataset

__all__ = ['theory_stage']

Config = Mapping[str, Any]

def theory_stage(out_json: str | os.PathLike, out_bands: str | os.PathLike, *, lattice: Config, theory: Config,
                 atom: str) -> dict:
    """Band topology of the configured lattice and the predicted displacement per cycle."""
    from atompump.theory.topology import expected_displacement, superlattice_topology

    params = lattice_params(lattice, species({"atom": atom}))
    bands = superlattice_topology(params, n_bands=int(theory["n_bands"]), n_k=int(theory["n_k"]),
                                  n_phi=int(theory["n_phi"]), n_max=int(theory["n_max"]))
    populations = np.asarray(theory["band_populations"], dtype=float)
    chern = bands.chern_number.values
    nu_theory = expected_displacement(chern, populations)
    summary = {
        "model": "superlattice",
        "chern_numbers": chern.tolist(),
        "min_gaps": bands.min_gap_above.values.tolist(),
        "energy_unit": "Er,s",
        "recoil_s_hz": bands.attrs["recoil_s_hz"],
        "band_populations": populations.tolist(),
        "nu_theory": nu_theory,
        "displacement_per_cycle_dl": nu_theory,
        "dl_um": params.dl_um,
        "lattice": {"Vs_Er": params.Vs_Er, "Vl_Er": params.Vl_Er, "lambda_l_nm": params.lambda_l_nm,
                    "mass_amu": params.mass_amu},
        "mesh": {"n_k": int(bands.attrs["n_k"]), "n_phi": int(bands.attrs["n_phi"]),
                 "n_max": int(bands.attrs["n_max"])},
    }
    write_dataset(bands, out_bands)
    write_json(out_json, summary)
    return summary
