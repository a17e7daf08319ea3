"""Stage fit: the displacement per cycle and its comparison with theory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import json
from pathlib import Path

import numpy as np
import xarray as xr

from atompump.io.atomic import write_json
from atompump.io.netcdf import read_dataset, write_dataset

__all__ = ['fit_stage']

Config = Mapping[str, Any]

def fit_stage(com_path: str | os.PathLike, theory_json: str | os.PathLike, out_summary: str | os.PathLike,
              out_fit: str | os.PathLike) -> dict:
    """Fit the displacement per cycle and compare it with the theory; write summary.json and fit.nc."""
    from atompump.fit import fit_linear_pump

    com = read_dataset(com_path)
    theory = json.loads(Path(theory_json).read_text())
    used = com.used.values.astype(bool)
    dl_um = float(theory["dl_um"])
    fit = fit_linear_pump(com.cycle.values[used], com.direction.values[used], com.x_com_um.values[used],
                          com.x_com_err_um.values[used], dl_um=dl_um)
    chern = int(theory["chern_numbers"][0])
    nu_theory = float(theory["nu_theory"])
    nu_theory_err = 0.0
    deviation = (fit.nu - nu_theory) / np.hypot(fit.nu_err, nu_theory_err)
    summary = {
        "nu": fit.nu,
        "nu_err": fit.nu_err,
        "displacement_per_cycle_um": fit.displacement_per_cycle_um,
        "displacement_per_cycle_err_um": fit.displacement_per_cycle_err_um,
        "x0_um": fit.x0_um,
        "x0_err_um": fit.x0_err_um,
        "dl_um": dl_um,
        "chern_number": chern,
        "chern_numbers": [int(c) for c in theory["chern_numbers"]],
        "nu_theory": nu_theory,
        "nu_theory_err": nu_theory_err,
        "deviation_sigma": float(deviation),
        "efficiency": fit.nu / chern if chern else None,
        "efficiency_err": abs(fit.nu_err / chern) if chern else None,
        "n_shots": int(com.sizes["shot"]),
        "n_used": int(used.sum()),
        "n_rejected": int((~used).sum()),
        "reduced_chi2": fit.reduced_chi2,
        "errors_scaled": fit.errors_scaled,
        "correlation_x0_nu": fit.correlation_x0_nu,
        "model": "x = x0 + direction * nu * dl * cycle",
    }
    model = np.full(com.sizes["shot"], np.nan)
    residual = np.full(com.sizes["shot"], np.nan)
    model[used] = com.x_com_um.values[used] - fit.residuals_um
    residual[used] = fit.residuals_um
    fit_ds = xr.Dataset(
        {"x_model_um": ("shot", model, {"units": "um", "long_name": "fitted centre of mass"}),
         "residual_um": ("shot", residual, {"units": "um", "long_name": "data minus fit"})},
        coords={"shot": com.shot.values},
        attrs={k: v for k, v in summary.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool)},
    )
    write_dataset(fit_ds, out_fit)
    write_json(out_summary, summary)
    return summary
