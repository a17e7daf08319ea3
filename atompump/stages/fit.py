"""Stage fit: the displacement per cycle, its alternatives, and the comparison with theory.

Before any fit, the used shots are checked against what the configured model needs
(:func:`atompump.fit.headline_problem`). When too few pass, the stage stops with a message (the rejections counted by
cause, the first shots of each, where to look); with ``data.on_bad_shot: reject`` it writes a ``summary.json`` with
``fit_possible: false``, the same text in ``fit_message`` and null numbers instead, so that the report is still
written.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from atompump.errors import FitNotPossibleError
from atompump.fit import PumpData, analyse_pump, headline_problem
from atompump.io.netcdf import read_dataset, write_dataset

__all__ = ["fit_stage", "no_fit_message", "pump_data"]

log = logging.getLogger(__name__)

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


def predicted_nu(prediction: Mapping[str, Any], data: PumpData, *, nu_chern: float) -> dict:
    """``nu_theory`` of the run: the full prediction's displacement per cycle for the shots that were used.

    The predicted centre of each used shot (``prediction['centre_dl']`` at its cycle and direction; linear in
    between, and beyond the last predicted cycle continued by its last increment) is fitted against
    ``direction * cycle`` as the headline fit does with the data (:func:`atompump.simulate.run.
    design_displacement`, the same slope as the simulator's ``nu_true``). Without centres (``theory.dynamics:
    none``, or no usable shots) it is ``nu_chern = sum_n p_n C_n``.

    Returns
    -------
    dict
        ``nu_theory``, ``nu_chern`` and ``nu_theory_source`` (in words).
    """
    from atompump.simulate.run import design_displacement

    centres = prediction.get("centre_dl") or {}
    out = {"nu_chern": float(nu_chern), "nu_theory": float(nu_chern),
           "nu_theory_source": "sum_n p_n C_n: the band populations' Chern numbers (adiabatic, no trap)"}
    directions = np.asarray(data.direction, int)
    if not centres or not all(str(d) in centres for d in np.unique(directions)):
        return out
    cycles = np.asarray(prediction["cycles"], float)
    x = np.empty(directions.size)
    for d in np.unique(directions):
        sel = directions == d
        c = np.asarray(centres[str(int(d))], float)
        step = (c[-1] - c[-2]) / (cycles[-1] - cycles[-2]) if cycles.size > 1 else 0.0
        x[sel] = np.where(data.cycle[sel] <= cycles[-1], np.interp(data.cycle[sel], cycles, c),
                          c[-1] + step * (data.cycle[sel] - cycles[-1]))
    nu = design_displacement(data.cycle, directions, x)
    if not np.isfinite(nu):
        return out
    beyond = float(np.max(data.cycle)) > cycles[-1] + 1e-9
    out["nu_theory"] = nu
    out["nu_theory_source"] = (f"{prediction.get('method', 'exact dynamics')}, for the used shots' cycles and "
                               "directions" + ("; continued beyond the last predicted cycle by its last increment"
                                               if beyond else ""))
    return out


def fit_stage(com_path: str | os.PathLike, theory_json: str | os.PathLike, out_summary: str | os.PathLike,
              out_fit: str | os.PathLike, *, fit: Config, on_bad_shot: str = "error",
              prediction_json: str | os.PathLike | None = None) -> dict:
    """Fit the displacement per cycle and compare it with the theory; write ``summary.json`` and ``fit.nc``.

    ``fit`` is the complete config section (``model``, ``n_bootstrap``, ``seed``, ``step_width``, ``blind``,
    ``blind_secret``; :func:`atompump.config.config_section` completes a partial one); ``on_bad_shot`` is
    ``data.on_bad_shot``. ``prediction_json`` is the theory's full prediction (prediction.json); ``nu_theory``
    is then the displacement per cycle it gives for the used shots (:func:`predicted_nu`), and ``nu_chern`` the
    ideal ``sum_n p_n C_n`` beside it.

    Raises
    ------
    FitNotPossibleError
        Too few used shots for ``fit.model`` (:func:`atompump.fit.headline_problem`) and ``on_bad_shot`` is not
        ``reject``; the message is :func:`no_fit_message`. With ``reject`` the stage writes the summary of
        :func:`_no_fit_outputs` instead (``fit_possible: false``).
    """
    com = read_dataset(com_path)
    theory = json.loads(Path(theory_json).read_text())
    data = pump_data(com)
    prediction = json.loads(Path(prediction_json).read_text()) if prediction_json else {}
    theory = {**theory, **predicted_nu(prediction, data, nu_chern=float(theory["nu_theory"]))}
    dl_um = float(theory["dl_um"])
    chern_numbers = [int(c) for c in theory["chern_numbers"]]
    blind = _blind(fit, data, com, dl_um=dl_um)  # fit.blind: every centre of a pumped shot blinded before any fit
    data = blind["data"]
    problem = headline_problem(data, str(fit["model"]))
    if problem:
        message = no_fit_message(com, problem=problem, model=str(fit["model"]), com_path=com_path,
                                 on_bad_shot=on_bad_shot)
        if on_bad_shot != "reject":
            raise FitNotPossibleError(message)
        log.warning("%s", message)
        return _no_fit_outputs(com, theory, data, out_summary, out_fit, fit=fit, message=message, blind=blind)
    analysis = analyse_pump(data, dl_um=dl_um, chern_numbers=chern_numbers, model=str(fit["model"]),
                            n_bootstrap=int(fit["n_bootstrap"]), seed=int(fit["seed"]),
                            step_width=float(fit["step_width"]))
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
        "nu_chern": theory["nu_chern"],
        "nu_theory_source": theory["nu_theory_source"],
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
        "fit_model_requested": str(fit["model"]),
        "correlations": head.correlations,
        "headline": head.summary(),
        "models": analysis.comparison,
        "alternatives": {k: v.summary() for k, v in analysis.alternatives.items()},
        "differential": {k: v.summary() for k, v in analysis.differential.items()},
        "bootstrap": analysis.bootstrap,
        "direction_consistency": analysis.consistency,
        "skipped": analysis.skipped,
        **_run_keys(com, fit_possible=True, message=""),
        **blind["keys"],
    }
    summary["theory_band_populations"] = theory.get("band_populations")
    non_adiabatic = theory.get("non_adiabatic") or {}
    summary["theory_non_adiabatic"] = non_adiabatic or None
    probabilities = [c["probability_band_averaged"] for c in non_adiabatic.get("crossings") or []
                     if c.get("probability_band_averaged") is not None]
    efficiency_fit = analysis.alternatives.get("efficiency")
    if probabilities:
        # band-averaged Landau-Zener probability per gap minimum = per half cycle of the efficiency model
        beta_lz = 1.0 - float(np.mean(probabilities))
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
        pull[rows] = per_shot.residuals_um / per_shot.sigma_um  # sigma: the per-shot error with the excess scatter
    fit_ds = xr.Dataset(
        {"x_model_um": ("shot", model_um, {"units": "um", "long_name": "fitted centre of mass"}),
         "residual_um": ("shot", residual, {"units": "um", "long_name": "data minus fit"}),
         "pull": ("shot", pull, {"units": "1", "long_name": "residual over its total error (per-shot and excess scatter)"}),
         "x_centre_um": blind["centres"],
         **_curve_variables(head, float(np.nanmax(com.cycle.values)), dl_um=dl_um)},
        coords={"shot": com.shot.values},
        attrs={"model": per_shot.model if per_shot is not None else "", "nu": head.nu, "nu_err": head.nu_err,
               "dl_um": dl_um, "blinded": int(blind["keys"]["blinded"])},
    )
    write_dataset(fit_ds, out_fit, title=FIT_TITLE)
    return _write_summary(summary, out_summary)


def _write_summary(summary: dict, path: str | os.PathLike) -> dict:
    """Write ``summary.json`` through its typed form (:class:`~atompump.stages.summary.RunSummary`: a key that is
    not documented there is an error) and return its JSON form."""
    from atompump.stages.summary import RunSummary

    typed = RunSummary(**summary)
    typed.write(path)
    return typed.to_dict()


_CURVE_POINTS = 200


def _curve_variables(head, cycle_max: float, *, dl_um: float) -> dict:
    """fit.nc's curves of the headline model (what the report draws): ``x_curve_um`` (x - x0, um) over
    ``curve_direction`` (+1, -1) and ``curve_cycle`` (0 to the run's largest cycle, 200 points), from
    :func:`atompump.fit.model_curve`."""
    from atompump.fit import model_curve

    grid = np.linspace(0.0, max(cycle_max, 1e-9), _CURVE_POINTS)
    directions = np.array([1, -1])
    curves = np.stack([model_curve(head, grid, int(d), dl_um=dl_um) for d in directions])
    return {"x_curve_um": (("curve_direction", "curve_cycle"), curves,
                           {"units": "um", "long_name": f"fitted centre minus x0 of the headline model ({head.model})"}),
            "curve_direction": ("curve_direction", directions, {"units": "1", "long_name": "pump direction"}),
            "curve_cycle": ("curve_cycle", grid, {"units": "1", "long_name": "pump cycles"})}


# --- a run where no fit is possible (issue 11, item 7) ---------------------------------------------------------------

_EXAMPLES = 5  # shots named per cause in the message


def _run_keys(com: xr.Dataset, *, fit_possible: bool, message: str) -> dict:
    """Summary keys shared by a fit and a run without one: whether a fit was possible and why not, the input kind
    (``frames`` or ``od``, from com.nc's attributes) and the rejections counted by cause."""
    from atompump.stages.com import rejections_by_cause

    causes = rejections_by_cause(com)
    return {"fit_possible": fit_possible, "fit_message": message, "input": str(com.attrs.get("input", "frames")),
            "rejected_by_cause": {cause.value: len(shots) for cause, shots, _ in causes}}


def no_fit_message(com: xr.Dataset, *, problem: str, model: str, com_path: str | os.PathLike,
                   on_bad_shot: str = "error") -> str:
    """Why no fit is possible, for the user: the fit's requirement, the shots used, the rejections counted by cause
    with the first few shots of each (and one full reason), and where to look.

    Parameters
    ----------
    com : Dataset
        ``com.nc``.
    problem : str
        :func:`atompump.fit.headline_problem`'s text.
    model : str
        ``fit.model``.
    com_path : path
        Where ``com.nc`` is (named in the message).
    on_bad_shot : str
        ``data.on_bad_shot``: with ``error`` the message says how to get the report anyway.
    """
    from atompump.stages.com import rejections_by_cause

    used = com.used.values.astype(bool)
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(used.size, bool)
    lines = [f"no fit possible (fit.model: {model}): {problem}.",
             f"{int(used.sum())} of {used.size} shots passed the quality cuts ({int((used & ~reference).sum())} "
             f"pumped, {int((used & reference).sum())} constant-phi reference); {int((~used).sum())} rejected, by "
             "cause:"]
    for cause, shots, reasons in rejections_by_cause(com):
        named = ", ".join(shots[:_EXAMPLES]) + (f" and {len(shots) - _EXAMPLES} more" if len(shots) > _EXAMPLES
                                                  else "")
        lines.append(f"  {len(shots)} x {cause.label} ({cause.value}): {named} (shot {shots[0]}: {reasons[0]})")
    where = (f"Where to look: {com_path} (one row per shot: used, reject_reason, x_com_um, atom_number), the "
             "logs of the reduce and com steps (logs/reduce/, logs/com/) and the report's table of rejected shots")
    if on_bad_shot == "reject":
        lines.append(where + ".")
    else:
        lines.append(where + " (set data.on_bad_shot: reject to write the report, listing every rejected shot with "
                             "its reason, without a fit).")
    return "\n".join(lines)


def _no_fit_outputs(com: xr.Dataset, theory: dict, data: PumpData, out_summary: str | os.PathLike,
                    out_fit: str | os.PathLike, *, fit: Config, message: str, blind: dict) -> dict:
    """``summary.json`` and ``fit.nc`` of a run where no fit is possible: ``fit_possible: false``, ``fit_message``,
    every fitted number null (NaN in fit.nc), the shot counts and the theory as for a fit."""
    dl_um = float(theory["dl_um"])
    chern_numbers = [int(c) for c in theory["chern_numbers"]]
    none = dict.fromkeys(("nu", "nu_err", "displacement_per_cycle_um", "displacement_per_cycle_err_um", "x0_um",
                          "x0_err_um", "deviation_sigma", "efficiency", "efficiency_err", "reduced_chi2",
                          "errors_scaled", "fit_model", "headline", "bootstrap", "direction_consistency"))
    used = com.used.values.astype(bool)
    summary = {
        **none,
        "dl_um": dl_um,
        "chern_number": chern_numbers[0],
        "chern_numbers": chern_numbers,
        "nu_theory": float(theory["nu_theory"]),
        "nu_theory_err": float(theory.get("nu_theory_err", 0.0) or 0.0),
        "nu_chern": theory["nu_chern"],
        "nu_theory_source": theory["nu_theory_source"],
        "n_shots": int(com.sizes["shot"]),
        "n_used": int(used.sum()),
        "n_rejected": int((~used).sum()),
        "n_reference": int(data.reference.sum()),
        "fit_model_requested": str(fit["model"]),
        "correlations": {},
        "models": [],
        "alternatives": {},
        "differential": {},
        "skipped": {},
        "theory_band_populations": theory.get("band_populations"),
        "theory_non_adiabatic": theory.get("non_adiabatic") or None,
        **_run_keys(com, fit_possible=False, message=message),
        **blind["keys"],
    }
    nan = np.full(com.sizes["shot"], np.nan)
    fit_ds = xr.Dataset(
        {"x_model_um": ("shot", nan, {"units": "um", "long_name": "fitted centre of mass (none: no fit possible)"}),
         "residual_um": ("shot", nan.copy(), {"units": "um", "long_name": "data minus fit"}),
         "pull": ("shot", nan.copy(), {"units": "1", "long_name": "residual over its total error (per-shot and excess scatter)"}),
         "x_centre_um": blind["centres"]},
        coords={"shot": com.shot.values},
        attrs={"model": "", "nu": np.nan, "nu_err": np.nan, "dl_um": dl_um, "fit_possible": 0,
               "blinded": int(blind["keys"]["blinded"])},
    )
    write_dataset(fit_ds, out_fit, title=FIT_TITLE)
    return _write_summary(summary, out_summary)


# --- blind analysis (issue 14, item 5) -------------------------------------------------------------------------------

FIT_TITLE = "atompump fit: fitted centre, residual and pull of each shot"

BLIND_NOTE = ("BLINDED: nu and every number and figure that would reveal it (displacement per cycle, deviation from "
              "theory, efficiency, every model's and analysis' nu, the fitted curves, the centres in the pump figures) "
              "carry a hidden offset. Decide the analysis, then reveal the result with `atompump unblind results`.")


def _blind(fit: Config, data: PumpData, com: xr.Dataset, *, dl_um: float) -> dict:
    """What a blind analysis changes (``fit.blind``, :mod:`atompump.fit.blind`): ``data`` with blinded centres, the
    summary keys (``blinded``, and when blinded ``blind_check`` and ``blind_note``) and fit.nc's ``x_centre_um``
    (every shot's centre as the fit sees it: blinded for pumped shots when blinded). The offset stays in memory."""
    from atompump.fit.blind import blind_centres, blind_pump_data
    from atompump.stages.blind import blinding

    settings = blinding(fit)
    offset = 0.0 if settings is None else settings[0]
    reference = com["reference"].values.astype(bool) if "reference" in com.variables else np.zeros(com.sizes["shot"],
                                                                                                   bool)
    centres = blind_centres(com.x_com_um.values, cycle=com.cycle.values, direction=com.direction.values,
                            reference=reference, offset=offset, dl_um=dl_um) if settings else com.x_com_um.values
    long_name = "centre of mass the fit used" + (" (BLINDED: pumped shots carry the hidden offset)" if settings
                                                 else "")
    keys: dict = {"blinded": settings is not None}
    if settings is not None:
        data = blind_pump_data(data, offset=offset, dl_um=dl_um)
        keys.update(blind_check=settings[1], blind_note=BLIND_NOTE)
    return {"data": data, "keys": keys,
            "centres": ("shot", np.asarray(centres, float), {"units": "um", "long_name": long_name})}
