"""atompump inside lyse, the labscript suite's analysis program: a single-shot and a multi-shot routine, and the
export of a finished run's results into the shot files.

Point lyse at the two routines of this package (``atompump/lyse/single_shot.py`` in lyse's single-shot list,
``atompump/lyse/multi_shot.py`` in its multi-shot list), with the environment variable ``ATOMPUMP_CONFIG`` naming
your config file (the workflow's keys: ``imaging``, ``com``, ``data.frames``, ``data.globals``, ``lattice``, ``atom``;
missing keys take their defaults), or write a three-line routine of your own that calls
:func:`single_shot_routine` / :func:`multi_shot_routine` with ``config="path/to/my.yaml"``.

Single shot (:func:`analyse_shot`)
    The shot's frames are read as the workflow reads them (:mod:`atompump.io.shots`), its optical density computed
    with its own probe frame (a single shot has no run to build a fringe basis from), and its cloud located with
    the first moment and the profile fit (:func:`atompump.com.locate_cloud`; no template: that needs the run).
    The numbers (:data:`RESULT_NAMES`) are saved with lyse's ``Run.save_result`` into ``/results/atompump``, so
    they appear in lyse's DataFrame under ``('atompump', name)``.
Multi shot (:func:`nu_so_far`)
    The displacement per cycle so far, fitted (linear model, :func:`atompump.fit.fit_model`) to the shots of lyse's
    DataFrame that the single-shot routine has measured; printed and plotted.
Export (:mod:`atompump.lyse.export`, ``atompump export-lyse RESULTS_DIR``)
    The final per-shot results of a finished workflow run written into ``/results/atompump`` of each shot file,
    without ever putting the file's raw data at risk.

Nothing here needs lyse to be installed except the two ``*_routine`` functions' defaults (``lyse.path``,
``lyse.data()``, ``lyse.Run``); the functions they call take the path or the DataFrame as arguments.
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from atompump.config import DATA_KEYS, naming_config_keys
from atompump.errors import InputDataError

__all__ = ["GROUP", "RESULT_NAMES", "analyse_shot", "describe_nu", "describe_shot", "load_config",
           "multi_shot_routine", "nu_so_far", "single_shot_routine"]

log = logging.getLogger(__name__)

GROUP = "atompump"
"""The results group: ``/results/atompump`` in each shot file, ``('atompump', name)`` columns in lyse."""

RESULT_NAMES = ("x_com_um", "x_com_err_um", "x_moment_um", "atom_number", "width_um", "reject_reason", "used",
                "estimator", "cycle", "direction", "reference")
"""The per-shot numbers saved: centre along the pump axis and its error (um, the chosen estimator), the first
moment (um), atom number, RMS width along the pump axis (um), why the shot is rejected (empty: used), whether it
is used, the estimator, and the pump protocol (cycle, direction, reference) read from the shot's globals."""

CONFIG_VARIABLE = "ATOMPUMP_CONFIG"


_SECTIONS = frozenset({"atom", "data", "imaging", "com", "lattice"})
_LOADED: dict[tuple[str, int], dict] = {}  # config files already checked (lyse calls a routine once per shot)


def load_config(config: str | os.PathLike | Mapping[str, Any] | None = None) -> dict:
    """The analysis config: a mapping, or a YAML file (default: the file named by ``$ATOMPUMP_CONFIG``, else the
    defaults alone), checked against the workflow's schema and filled with its defaults. A mapping that already
    holds every section is only filled with the schema's defaults (:func:`atompump.config.fill_defaults`: the
    schema is the one place defaults live); a file is read again only when it changes."""
    import yaml

    if config is None:
        config = os.environ.get(CONFIG_VARIABLE) or {}
    if isinstance(config, Mapping):
        if _SECTIONS <= config.keys():
            from atompump.config import fill_defaults

            return fill_defaults(config)
        return _checked(config)
    key = (str(config), os.stat(config).st_mtime_ns)
    if key not in _LOADED:
        with open(config, encoding="utf-8") as fh:
            _LOADED[key] = _checked(yaml.safe_load(fh) or {})
    return _LOADED[key]


def _checked(config: Mapping[str, Any]) -> dict:
    from atompump.cli import _SCHEMA
    from atompump.config import config_errors, fill_defaults, load_schema
    from atompump.errors import ConfigError

    schema = load_schema(_SCHEMA)
    problems = config_errors(config, schema)  # the keys alone: lyse, not data.manifest/shots, gives the shots
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return fill_defaults(config, schema)


def _record(path: Path, data: Mapping[str, Any]):
    from atompump.io.shots import run_shots

    return run_shots({**data, "shots": glob.escape(str(path))})[0]


@naming_config_keys(DATA_KEYS)
def analyse_shot(path: str | os.PathLike, config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """atompump's per-shot numbers (:data:`RESULT_NAMES`) for one labscript shot file.

    Parameters
    ----------
    path
        The shot file (labscript HDF5).
    config
        The analysis config (:func:`load_config`; a path, a mapping or None for ``$ATOMPUMP_CONFIG``).

    Returns
    -------
    dict
        ``x_com_um``, ``x_com_err_um``, ``x_moment_um``, ``atom_number``, ``width_um`` (NaN when not measured),
        ``reject_reason`` (str; empty when used), ``used`` (bool), ``estimator`` (``fit`` or ``moment``),
        ``cycle``, ``direction``, ``reference``. A shot that cannot be read is not an error: its reason says why.
    """
    from atompump.com import LocateSettings, locate_cloud
    from atompump.config import cross_section_um2, species
    from atompump.io.shots import read_shot
    from atompump.reduce import ODSettings, reduce_shot

    config = load_config(config)
    imaging, com = config["imaging"], config["com"]
    estimator = "moment" if com["estimator"] == "moment" else "fit"  # one shot: no template
    out: dict[str, Any] = {name: math.nan for name in RESULT_NAMES}
    out.update(reject_reason="", used=False, estimator=estimator)
    record = _record(Path(path), config["data"])
    out.update(cycle=record.cycle, direction=record.direction, reference=record.reference)
    try:
        if record.problem:
            raise InputDataError(record.problem)
        frames = read_shot(record)
        shape = frames.atoms.shape
        roi = tuple(imaging["roi"]) if imaging["roi"] else (0, shape[0], 0, shape[1])
        reduced = reduce_shot(frames.atoms, frames.probe, frames.dark, roi=roi,
                              **ODSettings.from_config(imaging).kwargs())
    except InputDataError as exc:
        out["reject_reason"] = str(exc)
        return out
    pixel, axis = float(imaging["pixel_size_um"]), str(imaging["pump_axis"])
    located = locate_cloud(reduced.od, pixel_size_um=pixel, pump_axis=axis, valid=reduced.valid,
                           variance_factor=reduced.variance_factor, estimator=estimator,
                           **LocateSettings.from_config(com).kwargs())
    shift = (roi[2] if axis == "x" else roi[0]) * pixel  # from the frame's pixel 0, as com.nc
    moment = located.moment
    atom_number = moment.integrated_od * pixel**2 / cross_section_um2(imaging, species(config))
    reason = located.reject_reason
    if not reason and not atom_number >= float(com["min_atom_number"]):
        reason = f"atom number {atom_number:.0f} below com.min_atom_number = {float(com['min_atom_number']):g}"
    out.update(x_com_um=located.x_um + shift, x_com_err_um=located.x_err_um, x_moment_um=moment.x_um + shift,
               atom_number=float(atom_number), width_um=float(moment.width_um), reject_reason=str(reason),
               used=not reason)
    return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in out.items()}


def single_shot_routine(path: str | os.PathLike | None = None, *,
                        config: str | os.PathLike | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The lyse single-shot routine: :func:`analyse_shot` of ``path`` (default ``lyse.path``, the shot lyse is
    analysing), saved with ``lyse.Run(path).save_result`` into ``/results/atompump`` (lyse's DataFrame:
    ``('atompump', name)``). Returns the numbers."""
    import lyse  # only inside lyse

    path = lyse.path if path is None else path
    results = analyse_shot(path, load_config(config))
    run = lyse.Run(path)
    run.set_group(GROUP)
    for name in RESULT_NAMES:
        run.save_result(name, results[name])
    return results


def describe_shot(results: Mapping[str, Any]) -> str:
    """One line on a shot's numbers (:func:`analyse_shot`), for lyse's output."""
    if results["reject_reason"]:
        return f"atompump: rejected: {results['reject_reason']}"
    return (f"atompump: x = {results['x_com_um']:.3f} +- {results['x_com_err_um']:.3f} um, "
            f"N = {results['atom_number']:.0f}, width {results['width_um']:.2f} um")


def describe_nu(result: Mapping[str, Any]) -> str:
    """One line on nu so far (:func:`nu_so_far`), for lyse's output."""
    if result["nu"] is None:
        return (f"atompump: nu so far: no fit yet ({result['message']}); {result['n_used']} of "
                f"{result['n_shots']} measured shots used")
    return (f"atompump: nu so far = {result['nu']:.4f} +- {result['nu_err']:.4f} ({result['n_used']} of "
            f"{result['n_shots']} measured shots used; reduced chi2 {result['reduced_chi2']:.2f})")


def _column(df, name: str):
    """lyse's ``('atompump', name)`` column (padded with '' to the DataFrame's depth), or a flat ``name``."""
    columns = df.columns
    if getattr(columns, "nlevels", 1) > 1:
        key = (GROUP, name) + ("",) * (columns.nlevels - 2)
        return df[key] if key in columns else None
    return df[name] if name in columns else None


def nu_so_far(df, config: str | os.PathLike | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The displacement per cycle of the shots measured so far, from lyse's DataFrame.

    Parameters
    ----------
    df : pandas.DataFrame
        lyse's DataFrame (``lyse.data()``), with the ``('atompump', ...)`` columns of the single-shot routine; rows
        in acquisition order (lyse sorts them by ``run time``). Shots without them are not analysed yet.
    config
        The analysis config (:func:`load_config`): ``lattice`` (dl = lambda_l / 2) and ``atom``.

    Returns
    -------
    dict
        ``nu``, ``nu_err`` (None while no fit is possible), ``n_shots`` (measured), ``n_used``, ``message`` (why
        no fit yet; empty otherwise), ``reduced_chi2``, ``dl_um``, ``model`` (``linear``: x = x0 + direction * nu
        * dl * cycle over the used pumped shots, errors scaled when the scatter exceeds them).
    """
    from atompump.config import lattice_params, species
    from atompump.fit import PumpData, fit_model
    from atompump.fit.analyses import model_problem

    config = load_config(config)
    dl = float(lattice_params(config["lattice"], species(config)).dl_um)
    out: dict[str, Any] = {"nu": None, "nu_err": None, "reduced_chi2": None, "n_shots": 0, "n_used": 0,
                           "dl_um": dl, "model": "linear", "message": ""}
    x = _column(df, "x_com_um")
    if x is None:
        out["message"] = "no shot measured by atompump's single-shot routine yet"
        return out
    values = {name: np.asarray(_column(df, name) if _column(df, name) is not None else np.zeros(len(df)))
              for name in ("x_com_um", "x_com_err_um", "used", "cycle", "direction", "reference")}
    measured = np.isfinite(values["cycle"].astype(float)) & ~_missing(_column(df, "used"))
    used = measured & values["used"].astype(bool) & np.isfinite(values["x_com_um"].astype(float))
    out.update(n_shots=int(measured.sum()), n_used=int(used.sum()))
    data = PumpData.from_arrays(values["cycle"][used].astype(float), values["direction"][used].astype(float),
                                values["x_com_um"][used].astype(float), values["x_com_err_um"][used].astype(float),
                                order=np.flatnonzero(used).astype(float),
                                reference=values["reference"][used].astype(bool))
    problem = model_problem(data, "linear")
    if problem:
        out["message"] = problem
        return out
    report = fit_model(data, "linear", dl_um=dl)
    out.update(nu=float(report.nu), nu_err=float(report.nu_err), reduced_chi2=float(report.reduced_chi2))
    return out


def _missing(column) -> np.ndarray:
    import pandas as pd

    return np.zeros(0, bool) if column is None else np.asarray(pd.isna(column))


def multi_shot_routine(df=None, *, config: str | os.PathLike | Mapping[str, Any] | None = None, figure=None
                       ) -> dict[str, Any]:
    """The lyse multi-shot routine: :func:`nu_so_far` of ``df`` (default ``lyse.data()``), and the centre of mass
    against ``direction * cycle`` with the fitted line drawn on ``figure`` (default a new matplotlib figure, which
    lyse shows). Returns the numbers (:func:`describe_nu` puts them in words)."""
    if df is None:
        import lyse  # only inside lyse

        df = lyse.data()
    config = load_config(config)
    result = nu_so_far(df, config)
    import matplotlib.pyplot as plt

    figure = figure if figure is not None else plt.figure("atompump: nu so far")
    figure.clf()
    ax = figure.add_subplot()
    x = _column(df, "x_com_um")
    if x is not None:
        lever = (np.asarray(_column(df, "cycle"), float) * np.asarray(_column(df, "direction"), float))
        used = np.asarray(_column(df, "used")).astype(bool) & ~_missing(_column(df, "used"))
        ax.errorbar(lever[used], np.asarray(x, float)[used], np.asarray(_column(df, "x_com_err_um"), float)[used],
                    fmt="o", ms=3, label="used shots")
        if result["nu"] is not None and used.any():
            span = np.array([lever[used].min(), lever[used].max()])
            x0 = np.average(np.asarray(x, float)[used] - result["nu"] * result["dl_um"] * lever[used])
            ax.plot(span, x0 + result["nu"] * result["dl_um"] * span,
                    label=f"nu = {result['nu']:.3f} +- {result['nu_err']:.3f}")
        ax.legend()
    ax.set_xlabel("direction x pump cycles")
    ax.set_ylabel("centre of mass (um)")
    ax.set_title(f"atompump: {result['n_used']} shots used")
    return result
