"""Stage fit: the displacement per cycle, its alternatives, and the comparison with theory."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from atompump.fit import PumpData, analyse_pump
from atompump.io.atomic import write_json
from atompump.io.netcdf import read_dataset, write_dataset

__all__ = ["fit_stage", "pump_data"]

Config = Mapping[str, Any]


def pump_data(com: xr.Dataset) -> PumpData:
    """The used shots of a ``com.nc`` Dataset as :class:`~atompump.fit.PumpData`.

    The acquisition order is the ``order`` variable when every shot has one (>= 0), else the position in the run;
    the sequence length is ``sequence_cycles`` when present, else ``cycle``.
    """
    used = com.used.values.astype(bool)
    n = com.sizes["shot"]
    order = com["order"].values if "order" in com.variables else np.full(n, -1)
    if np.any(order < 0):
        order = np.arange(n)
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(n, bool)
    sequence = com["sequence_cycles"].values if "sequence_cycles" in com.variables else com.cycle.values
    return PumpData.from_arrays(com.cycle.values[used], com.direction.values[used], com.x_com_um.values[used],
                                com.x_com_err_um.values[used], order=np.asarray(order)[used],
                                reference=reference[used], shot=com.shot.values[used],
                                sequence=np.asarray(sequence, float)[used])


def fit_stage(com_path: str | os.PathLike, theory_json: str | os.PathLike, out_summary: str | os.PathLike,
              out_fit: str | os.PathLike, *, fit: Config | None = None) -> dict:
    """Fit the displacement per cycle and compare it with the theory; write ``summary.json`` and ``fit.nc``.

    ``fit`` is the config section (``model``, ``n_bootstrap``, ``seed``, ``step_width``).
    """
    fit = dict(fit or {})
    com = read_dataset(com_path)
    theory = json.loads(Path(theory_json).read_text())
    data = pump_data(com)
    dl_um = float(theory["dl_um"])
    chern_numbers = [int(c) for c in theory["chern_numbers"]]
    analysis = analyse_pump(data, dl_um=dl_um, chern_numbers=chern_numbers, model=str(fit.get("model", "linear")),
                            n_bootstrap=int(fit.get("n_bootstrap", 1000)), seed=int(fit.get("seed", 0)),
                            step_width=float(fit.get("step_width", 0.02)))
    head = analysis.headline
    chern = chern_numbers[0]
    nu_theory = float(theory["nu_theory"])
    nu_theory_err = float(theory.get("nu_theory_err", 0.0) or 0.0)
    deviation = (head.nu - nu_theory) / math.hypot(head.nu_err, nu_theory_err)
    x0 = head.params.get("x0", (float("nan"), float("nan")))
    summary = {
        "nu": head.nu,
        "nu_err": head.nu_err,
        "displacement_per_cycle_um": head.nu * dl_um,
        "displacement_per_cycle_err_um": head.nu_err * dl_um,
        "x0_um": x0[0],
        "x0_err_um": x0[1],
        "dl_um": dl_um,
        "chern_number": chern,
        "chern_numbers": chern_numbers,
        "nu_theory": nu_theory,
        "nu_theory_err": nu_theory_err,
        "deviation_sigma": float(deviation),
        "efficiency": head.nu / chern if chern else None,
        "efficiency_err": abs(head.nu_err / chern) if chern else None,
        "n_shots": int(com.sizes["shot"]),
        "n_used": int(com.used.values.astype(bool).sum()),
        "n_rejected": int((~com.used.values.astype(bool)).sum()),
        "n_reference": int(data.reference.sum()),
        "reduced_chi2": head.reduced_chi2,
        "errors_scaled": head.errors_scaled,
        "fit_model": head.model,
        "fit_model_requested": str(fit.get("model", "linear")),
        "correlations": head.correlations,
        "headline": head.summary(),
        "models": analysis.comparison,
        "alternatives": {k: v.summary() for k, v in analysis.alternatives.items()},
        "differential": {k: v.summary() for k, v in analysis.differential.items()},
        "bootstrap": analysis.bootstrap,
        "direction_consistency": analysis.consistency,
        "skipped": analysis.skipped,
    }
    summary["theory_band_populations"] = theory.get("band_populations")
    non_adiabatic = theory.get("non_adiabatic") or {}
    summary["theory_non_adiabatic"] = non_adiabatic or None
    loss = non_adiabatic.get("loss_per_cycle")
    crossings = non_adiabatic.get("crossings") or []
    efficiency_fit = analysis.alternatives.get("efficiency")
    if loss is not None and crossings:
        # Landau-Zener: the loss is shared by the gap minima crossed per cycle; per crossing = per half cycle here
        beta_lz = 1.0 - float(loss) / len(crossings)
        summary["beta_landau_zener"] = beta_lz
        if efficiency_fit is not None:
            beta, beta_err = efficiency_fit.extra["beta"], efficiency_fit.extra["beta_err"]
            summary["beta_vs_landau_zener_sigma"] = (beta - beta_lz) / beta_err if beta_err > 0 else None
    # per-shot model and residuals of the pumped-shot fit that has per-shot points (headline or linear)
    per_shot = head if head.model in analysis.alternatives else analysis.alternatives.get("linear")
    n = com.sizes["shot"]
    model_um = np.full(n, np.nan)
    residual = np.full(n, np.nan)
    pull = np.full(n, np.nan)
    if per_shot is not None:
        rows = np.flatnonzero(com.used.values.astype(bool))
        rows = rows[~data.reference]
        model_um[rows] = per_shot.model_um
        residual[rows] = per_shot.residuals_um
        scale = math.sqrt(per_shot.reduced_chi2) if per_shot.errors_scaled else 1.0
        pull[rows] = per_shot.residuals_um / (per_shot.sigma_um * scale)
    fit_ds = xr.Dataset(
        {"x_model_um": ("shot", model_um, {"units": "um", "long_name": "fitted centre of mass"}),
         "residual_um": ("shot", residual, {"units": "um", "long_name": "data minus fit"}),
         "pull": ("shot", pull, {"units": "1", "long_name": "residual over its (scaled) error"})},
        coords={"shot": com.shot.values},
        attrs={"model": per_shot.model if per_shot is not None else "", "nu": head.nu, "nu_err": head.nu_err,
               "dl_um": dl_um},
    )
    write_dataset(fit_ds, out_fit)
    write_json(out_summary, summary)
    return summary
