"""Stage com: the run's cloud model, the centres of mass of one batch (every estimator), and the gathered per-shot
Dataset with run-level cuts and the choice of the headline estimator.

Rules and files (see ``workflow/rules/com.smk``)::

    template      reduce batches, fringe_basis.nc -> results/com/template.nc   one job: mean cloud and pooled noise
    com_batch     batch, fringe_basis.nc, template -> results/com/batch-NNNN.nc one job per batch
    gather_com    every batch                      -> results/com/com.nc        one job: cuts, estimator choice

Quality cuts, each with its reason in ``reject_reason`` (nothing is dropped silently), all physical:

* bad input (recorded by the reduce step);
* no cloud signal, cloud cut by the frame edge, cloud masked (no probe light or a saturated camera) over more than
  ``com.max_masked_fraction`` (:mod:`atompump.com.support`);
* atom number below ``com.min_atom_number``;
* atom-number outliers across the run (in :func:`gather_com_stage`): more than ``com.atom_number_outlier_mads``
  robust standard deviations (1.4826 MAD) from the run's median.

An estimator that cannot measure a shot (a profile fit that fails, or a fit or template registration that locked
onto something else: :func:`estimator_outliers`) is recorded in ``fit_problem`` / ``template_problem``; with
``com.estimator: auto`` an estimator that fails on any shot is not chosen, so no shot is lost to an algorithm's
trouble.

Choice of the headline estimator (``com.estimator: auto``, :func:`choose_estimator`): among the estimators that
measured every shot, the one with the smallest median error, the ``fit`` kept over the ``template`` unless the
template's median error is 5 % smaller (then the cloud is not well described by the profile model); then the
per-cycle consistency of the chosen estimator with the first moment (:func:`estimator_consistency`): the physical
observable is the centre-of-mass displacement, and a registered template or a fitted model follows the centre of
mass only while the cloud keeps its shape. If their difference drifts with the pump cycles by more than three
standard errors, the first moment is used instead, and the reason is written in ``com.nc``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.com import ESTIMATORS, LocateSettings, locate_cloud
from atompump.com.noise import NoiseModel
from atompump.com.template import Template, cloud_model
from atompump.config import cross_section_um2, species
from atompump.errors import InputDataError
from atompump.io.netcdf import lag_coordinates, read_dataset, read_variables, write_dataset, write_dataset_blocks
from atompump.reasons import Reason, RejectCause, cause_code
from atompump.stages.reduce import read_run_cloud, sample_indices

log = logging.getLogger(__name__)

__all__ = ["atom_number_outliers", "choose_estimator", "com_batch_stage", "com_report_rows", "estimator_consistency",
           "estimator_outliers", "estimator_table", "gather_com_stage", "estimator_failure", "read_template",
           "rejections_by_cause", "template_stage"]

Config = Mapping[str, Any]
CHOICES = (*ESTIMATORS, "auto")


def _frame_edges(roi: Sequence[int], frame_shape: Sequence[int]) -> tuple[bool, bool, bool, bool]:
    """Which sides of the ROI are edges of the camera frame (top, bottom, left, right)."""
    r0, r1, c0, c1 = (int(v) for v in roi)
    return r0 == 0, r1 == int(frame_shape[0]), c0 == 0, c1 == int(frame_shape[1])


def _one_blas_thread(func):
    """Run a stage with BLAS on one thread: the rules declare one thread, and a multithreaded BLAS sums products in an
    order that depends on the thread count, so the same inputs would not always give the same bytes."""
    import functools

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def _check_estimator(com: Config) -> str:
    estimator = str(com["estimator"])
    if estimator not in CHOICES:
        raise InputDataError(f"config key 'com.estimator': {estimator!r} is not allowed; allowed: {list(CHOICES)}")
    return estimator


# --- the run's cloud model: template and pooled noise ------------------------------------------------------------

@_one_blas_thread
def template_stage(batch_paths: Sequence[str | os.PathLike], basis_path: str | os.PathLike,
                   out_path: str | os.PathLike, *, com: Config) -> dict:
    """The run's cloud model (``results/com/template.nc``): the template of the ``template`` estimator and the noise
    correlations pooled over the run (:func:`atompump.com.noise.pool_noise`).

    Up to ``com.template_shots`` good shots spread over the run are located (cloud region, window, first moment,
    noise), their noise is pooled, and they are aligned into the template (:func:`atompump.com.build_template`).
    Memory: the sampled shots' ODs (``template_shots`` x ROI pixels x 8 bytes).
    """
    first = read_variables(batch_paths[0], [])[1]
    pixel, axis = float(first["pixel_size_um"]), str(first["pump_axis"])
    expected, mean_od, roi, frame_shape = read_run_cloud(basis_path)
    edges = _frame_edges(roi, frame_shape)
    margin = float(com["window_margin"])
    # the good shots of the run, a bounded sample spread over it
    where = []
    for b, path in enumerate(batch_paths):
        bad = read_variables(path, ["bad_input"])[0]["bad_input"]
        where += [(b, int(i)) for i in np.flatnonzero(~np.asarray(bad, bool))]
    picks = [where[i] for i in sample_indices(len(where), int(com["template_shots"]))]
    progress = Progress(log, "template", len(picks), unit="shots located")

    def sampled():
        for b, i in picks:
            values = read_variables(batch_paths[b], ["shot", "od", "valid", "variance_factor"],
                                    rows=np.array([i]))[0]
            yield values["shot"][0], values["od"][0], values["valid"][0], values["variance_factor"][0]

    template, pooled, n_used = cloud_model(sampled(), pump_axis=axis, expected=expected, expected_shape=mean_od,
                                           frame_edges=edges, window_margin=margin,
                                           max_masked_fraction=float(com["max_masked_fraction"]),
                                           progress=progress.update)
    attrs: dict[str, Any] = {"pump_axis": axis, "pixel_size_um": pixel, "n_sampled": len(picks),
                             "n_shots": n_used}
    data: dict[str, tuple] = {}
    if pooled is not None:
        attrs.update(noise_white_variance=pooled.white_variance, noise_pixel_variance=pooled.pixel_variance,
                     noise_n_pixels=pooled.n_pixels)
        data["noise_correlated"] = (("lag_y", "lag_x"), pooled.correlated,
                                    {"units": "1", "long_name": "pooled correlated OD noise covariance C_c(d) "
                                                                "(zero lag at the centre; pump axis along lag_x)"})
        data["noise_pairs"] = (("lag_y", "lag_x"), pooled.pairs, {"long_name": "pixel pairs behind each lag"})
    if template is not None:
        attrs.update(x_ref=template.x_ref, y_ref=template.y_ref, smoothing_px=template.smoothing_px)
        data.update(
            template_sum=(("across", "along"), template.sum,
                          {"units": "1", "long_name": "sum of the aligned background-corrected ODs"}),
            template_weight=(("across", "along"), template.weight,
                             {"long_name": "number of shots behind each pixel of the template"}),
            template_shot=("sample", np.array(template.shots, dtype=object), {"long_name": "shots averaged"}),
            template_shift=(("sample", "axis"), template.shifts,
                            {"units": "pixel", "long_name": "alignment shift (across, along the pump axis)"}),
            template_background=("sample", template.backgrounds,
                                 {"units": "1", "long_name": "background OD subtracted from each averaged shot"}),
        )
        log.info("template: %d shots aligned (smoothing %.2f px); pooled noise from %d atom-free pixels", n_used,
                 template.smoothing_px, attrs.get("noise_n_pixels", 0))
    else:
        log.warning("template: only %d usable shots of %d sampled; the template estimator is not available",
                    n_used, len(picks))
    coords: dict[str, tuple] = {}
    if pooled is not None:
        coords.update(lag_coordinates(pooled.correlated.shape, pixel_size_um=pixel))
    if template is not None:  # the template's pixels are the ROI's, turned so that 'along' is the pump axis
        rows, cols = range(roi[0], roi[1]), range(roi[2], roi[3])
        across, along = (rows, cols) if axis == "x" else (cols, rows)
        for dim, pixels, side in (("across", across, "across"), ("along", along, "along")):
            index = np.asarray(pixels, dtype=np.int64)
            coords[dim] = (dim, index, {"long_name": f"frame pixel {side} the pump axis"})
            coords[f"{dim}_um"] = (dim, index * pixel, {"units": "um", "long_name": f"position {side} the pump axis"})
    write_dataset(xr.Dataset(data, coords=coords, attrs=attrs), out_path,
                  title="atompump the run's cloud template and pooled noise")
    return attrs


def read_template(path: str | os.PathLike) -> tuple[Template | None, NoiseModel | None]:
    """The template (pump axis along columns) and the pooled noise written by :func:`template_stage`."""
    attrs = read_variables(path, [])[1]
    names = ["noise_correlated", "noise_pairs"] if "noise_white_variance" in attrs else []
    if "x_ref" in attrs:
        names += ["template_sum", "template_weight", "template_shot", "template_shift", "template_background"]
    values = read_variables(path, names)[0] if names else {}
    noise = None
    if "noise_white_variance" in attrs:
        noise = NoiseModel(float(attrs["noise_white_variance"]), np.asarray(values["noise_correlated"], float),
                           np.ones((1, 1)), float(attrs["noise_pixel_variance"]), int(attrs["noise_n_pixels"]),
                           np.asarray(values["noise_pairs"], float))
    template = None
    if "x_ref" in attrs:
        template = Template(np.asarray(values["template_sum"], float), np.asarray(values["template_weight"], float),
                            float(attrs["x_ref"]), float(attrs["y_ref"]), float(attrs["smoothing_px"]),
                            tuple(str(s) for s in values["template_shot"]),
                            np.asarray(values["template_shift"], float),
                            np.asarray(values["template_background"], float))
    return template, noise


# --- one batch -------------------------------------------------------------------------------------------------

_PER_SHOT = ("x_moment_um", "x_moment_err_um", "x_fit_um", "x_fit_err_um", "x_template_um", "x_template_err_um",
             "crb_um", "crb_template_um", "fit_reduced_chi2", "template_reduced_chi2", "x_moment_white_err_um",
             "x_fit_white_err_um", "x_template_white_err_um", "integrated", "masked", "width")


@_one_blas_thread
def com_batch_stage(reduced: str | os.PathLike, out_path: str | os.PathLike, *, imaging: Config, com: Config,
                    atom: str, basis_path: str | os.PathLike | None = None,
                    template_path: str | os.PathLike | None = None) -> xr.Dataset:
    """Centre of mass of each shot of a reduced batch by every estimator, written to ``out_path``.

    ``x_moment_um``, ``x_fit_um``, ``x_template_um`` (with errors under the measured noise, and the errors the white
    part of the noise alone would give), ``crb_um`` (the fit's bound) and ``crb_template_um`` are kept for every
    shot; ``x_com_um``/``x_com_err_um`` are those of ``com.estimator`` (with ``auto``: provisionally the fit's;
    :func:`gather_com_stage` chooses). Positions are in um from pixel 0 of the full frame. ``basis_path`` (the
    run's cloud region and the frame's edges) and ``template_path`` (:func:`template_stage`) are optional: without
    them each shot is located on its own, its noise measured alone, and the template estimator is not run.
    """
    ds = read_dataset(reduced)
    pixel = float(ds.attrs["pixel_size_um"])
    axis = str(ds.attrs["pump_axis"])
    estimator = _check_estimator(com)
    settings = LocateSettings.from_config(com)
    # positions from the frame's pixel 0, not the ROI's
    offset_px = float(ds.x.values[0] if axis == "x" else ds.y.values[0]) if "x" in ds.coords else 0.0
    expected, mean_od, edges = None, None, (True, True, True, True)
    if basis_path is not None:
        expected, mean_od, roi, frame_shape = read_run_cloud(basis_path)
        edges = _frame_edges(roi, frame_shape)
    template, pooled = read_template(template_path) if template_path is not None else (None, None)
    sigma = cross_section_um2(imaging, species({"atom": atom}))
    n = ds.sizes["shot"]
    out = {name: np.full(n, np.nan) for name in _PER_SHOT}
    if "reject_cause" not in ds.variables:
        raise InputDataError(f"{reduced}: has no reject_cause beside reject_reason (written by an older atompump); "
                             "delete results/reduce and rerun")
    reasons = [Reason(str(r), str(c)) for r, c in zip(ds.reject_reason.values, ds.reject_cause.values)]
    problems = {"fit": [""] * n, "template": [""] * n}
    factors = ds["variance_factor"].values if "variance_factor" in ds else None
    shots = [str(s) for s in ds.shot.values]
    shift = offset_px * pixel
    for i in range(n):
        if reasons[i]:
            continue
        located = locate_cloud(ds.od.values[i], pixel_size_um=pixel, pump_axis=axis, valid=ds.valid.values[i],
                               variance_factor=None if factors is None else factors[i],
                               estimator="fit" if estimator == "auto" else estimator, **settings.kwargs(),
                               expected=expected, expected_shape=mean_od, frame_edges=edges, template=template,
                               shot=shots[i], pooled_noise=pooled)
        moment, fit, registered = located.moment, located.fit, located.template
        out["x_moment_um"][i], out["x_moment_err_um"][i] = moment.x_um + shift, moment.x_err_um
        out["x_moment_white_err_um"][i] = moment.white_err_um
        out["x_fit_um"][i], out["x_fit_err_um"][i] = fit.x_um + shift, fit.x_err_um
        out["x_fit_white_err_um"][i] = fit.white_err_um
        out["crb_um"][i], out["fit_reduced_chi2"][i] = fit.crb_um, fit.reduced_chi2
        if registered is not None:
            out["x_template_um"][i], out["x_template_err_um"][i] = registered.x_um + shift, registered.x_err_um
            out["x_template_white_err_um"][i] = registered.white_err_um
            out["crb_template_um"][i], out["template_reduced_chi2"][i] = registered.crb_um, registered.reduced_chi2
        out["integrated"][i], out["masked"][i] = moment.integrated_od, moment.masked_fraction
        out["width"][i] = moment.width_um
        physical = moment.reject_reason
        if not physical:
            problems["fit"][i] = fit.reject_reason
            problems["template"][i] = ("no template for this run" if registered is None
                                       else registered.reject_reason)
        reasons[i] = physical or estimator_failure(estimator, problems.get(estimator, [""] * n)[i])
    atom_number = out["integrated"] * pixel**2 / sigma
    min_atoms = float(com["min_atom_number"])
    for i in range(n):
        if not reasons[i] and not atom_number[i] >= min_atoms:
            reasons[i] = Reason(f"atom number {atom_number[i]:.0f} below com.min_atom_number = {min_atoms:g}",
                                RejectCause.FEW_ATOMS)
    chosen = "fit" if estimator == "auto" else estimator
    um = {"units": "um"}

    def variable(name: str, long_name: str, units: dict | None = None):
        return ("shot", out[name], {**(units or um), "long_name": long_name})

    result = xr.Dataset(
        {
            "x_com_um": ("shot", out[f"x_{chosen}_um"].copy(),
                         {**um, "long_name": f"centre of mass along the pump axis ({chosen})"}),
            "x_com_err_um": ("shot", out[f"x_{chosen}_err_um"].copy(),
                             {**um, "long_name": "uncertainty of the centre of mass (measured noise)"}),
            "x_moment_um": variable("x_moment_um", "first moment in the cloud's window"),
            "x_moment_err_um": variable("x_moment_err_um", "uncertainty of x_moment_um (measured noise)"),
            "x_fit_um": variable("x_fit_um", f"centre of the {settings.model} profile fit"),
            "x_fit_err_um": variable("x_fit_err_um", "uncertainty of x_fit_um (measured noise)"),
            "x_template_um": variable("x_template_um", "position of the run's template registered to the shot"),
            "x_template_err_um": variable("x_template_err_um", "uncertainty of x_template_um (measured noise)"),
            "x_moment_white_err_um": variable("x_moment_white_err_um",
                                              "uncertainty of x_moment_um from independent pixel noise alone"),
            "x_fit_white_err_um": variable("x_fit_white_err_um",
                                           "uncertainty of x_fit_um from independent pixel noise alone"),
            "x_template_white_err_um": variable("x_template_white_err_um",
                                                "uncertainty of x_template_um from independent pixel noise alone"),
            "crb_um": variable("crb_um", "Cramer-Rao bound of the profile fit's centre (independent pixel noise)"),
            "crb_template_um": variable("crb_template_um",
                                        "Cramer-Rao bound of the template's shift (independent pixel noise)"),
            "fit_reduced_chi2": variable("fit_reduced_chi2", "reduced chi^2 of the profile fit", {"units": "1"}),
            "template_reduced_chi2": variable("template_reduced_chi2", "reduced chi^2 of the template registration",
                                              {"units": "1"}),
            "fit_problem": ("shot", np.array([str(p) for p in problems["fit"]], dtype=object),
                            {"long_name": "why the profile fit could not measure the shot (empty: it could)"}),
            "template_problem": ("shot", np.array([str(p) for p in problems["template"]], dtype=object),
                                 {"long_name": "why the template could not measure the shot (empty: it could)"}),
            "atom_number": ("shot", atom_number, {"units": "1",
                                                  "long_name": "atom number from OD and the cross-section"}),
            "masked_fraction": ("shot", out["masked"], {"units": "1",
                                                        "long_name": "masked fraction of the cloud"}),
            "width_um": variable("width", "RMS width of the cloud along the pump axis (first moment's window)"),
            "used": ("shot", np.array([not r for r in reasons]), {"long_name": "shot passed the quality cuts"}),
            "reject_reason": ("shot", np.array([str(r) for r in reasons], dtype=object),
                              {"long_name": "why the shot was rejected"}),
            "reject_cause": ("shot", np.array([cause_code(r) for r in reasons], dtype=object),
                             {"long_name": "code of the reason's cause (atompump.reasons.RejectCause; empty: used)"}),
        },
        coords={name: ds.coords[name] for name in ds.coords if ds.coords[name].dims == ("shot",)},
        attrs={"pixel_size_um": pixel, "pump_axis": axis, "cross_section_um2": sigma, "estimator": chosen,
               "estimator_requested": estimator, "profile_model": settings.model,
               "input": str(ds.attrs.get("input", "frames"))},
    )
    write_dataset(result, out_path, title="atompump centre of mass of each shot of one batch")
    return result


_FAILED = {"fit": RejectCause.FIT_FAILED, "template": RejectCause.TEMPLATE_FAILED}


def estimator_failure(estimator: str, problem: str) -> Reason:
    """The reject reason of a shot that the fixed choice ``com.estimator`` (``fit`` or ``template``) could not
    measure (``problem``, empty when it could): its cause :attr:`~atompump.reasons.RejectCause.FIT_FAILED` or
    ``TEMPLATE_FAILED``. Empty for ``moment`` and ``auto`` (auto chooses an estimator that measured every shot)."""
    cause = _FAILED.get(estimator)
    return Reason(str(problem), cause) if cause is not None and str(problem) else Reason()


def atom_number_outliers(atom_number: np.ndarray, used: np.ndarray, *, max_mads: float | None
                         ) -> dict[int, Reason]:
    """Atom-number outliers among the used shots (robust z-score above ``max_mads``): index -> reason.

    The robust z-score is ``(N - median) / (1.4826 MAD)`` over the used shots; no cut with ``max_mads=None``, fewer
    than 20 used shots (the MAD of a few shots is itself too uncertain: with 5 shots a 5-sigma cut rejects good
    shots), or a zero MAD.
    """
    if max_mads is None:
        return {}
    used = np.asarray(used, dtype=bool)
    values = atom_number[used]
    if values.size < 20:
        return {}
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if spread <= 0:
        return {}
    out = {}
    for i in np.flatnonzero(used):
        z = (atom_number[i] - median) / spread
        if abs(z) > max_mads:
            out[int(i)] = Reason(f"atom number {atom_number[i]:.0f} is an outlier: {z:+.1f} robust standard "
                                 f"deviations from the run's median {median:.0f} (com.atom_number_outlier_mads = "
                                 f"{max_mads:g})", RejectCause.ATOM_NUMBER_OUTLIER)
    return out


def _read_batch(path: str | os.PathLike, names: Sequence[str]) -> dict[str, np.ndarray]:
    return read_variables(path, list(names))[0]  # InputDataError naming the file when it cannot be read


def _read_first_pass(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The first-pass columns of one batch; an estimator a batch file does not hold (a file of an older version, or
    written without a template) comes back as NaN, its problems as empty."""
    import h5py

    _read_batch(path, ["shot"])  # InputDataError naming the file when it cannot be read
    with h5py.File(path, "r") as f:
        present = [name for name in _GATHER_FIRST_PASS if name in f]
    values = _read_batch(path, present)
    n = values["shot"].size
    for name in _GATHER_FIRST_PASS:
        if name not in values:
            values[name] = np.full(n, "", dtype=object) if name.endswith("_problem") else np.full(n, np.nan)
    return values


def _shot_hash(shot: object) -> int:
    """A 64-bit hash of a shot id (the same in every process, unlike :func:`hash`)."""
    return int.from_bytes(hashlib.blake2b(str(shot).encode(), digest_size=8).digest(), "little")


_GATHER_FIRST_PASS = ("shot", "atom_number", "used", "cycle", "direction", "reference", "fit_problem",
                      "template_problem", "crb_um", "crb_template_um", "x_moment_um", "x_moment_err_um", "x_fit_um",
                      "x_fit_err_um", "x_template_um", "x_template_err_um", "x_moment_white_err_um",
                      "x_fit_white_err_um", "x_template_white_err_um")


def estimator_consistency(x: np.ndarray, x_moment: np.ndarray, cycle: np.ndarray, direction: np.ndarray) -> dict:
    """How an estimator's centres compare with the first moment's, cycle by cycle (pumped shots of one run).

    The difference ``d = x - x_moment`` of each shot is constant when the cloud keeps its shape (a constant offset
    does not change the displacement per cycle); a difference that changes with ``direction * cycle`` means the
    estimator does not follow the centre of mass. Both centres come from the same pixels, so their errors are
    correlated: the errors of the means come from the scatter of ``d`` itself.

    Returns
    -------
    dict
        ``groups``: per (cycle, direction) the number of shots, the mean difference and its standard error (um);
        ``slope_um_per_cycle``, ``slope_err_um_per_cycle``: least-squares slope of ``d`` against
        ``direction * cycle`` and its error from the residual scatter; ``slope_sigma``; ``n``.
    """
    ok = np.isfinite(x) & np.isfinite(x_moment)
    d, u = (x - x_moment)[ok], (direction * cycle)[ok]
    groups = []
    for c, dr in sorted({(float(a), int(b)) for a, b in zip(cycle[ok], direction[ok])}):
        sel = (cycle[ok] == c) & (direction[ok] == dr)
        values = d[sel]
        se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")
        groups.append({"cycle": c, "direction": dr, "n": int(values.size), "mean_um": float(values.mean()),
                       "err_um": se})
    out: dict[str, Any] = {"groups": groups, "n": int(d.size)}
    if d.size >= 3 and np.ptp(u) > 0:
        design = np.column_stack([np.ones_like(u), u])
        coef, *_ = np.linalg.lstsq(design, d, rcond=None)
        residual = d - design @ coef
        scatter = float(np.sqrt((residual**2).sum() / max(d.size - 2, 1)))
        err = scatter / float(np.sqrt(((u - u.mean()) ** 2).sum()))
        out.update(slope_um_per_cycle=float(coef[1]), slope_err_um_per_cycle=err,
                   slope_sigma=float(coef[1] / err) if err > 0 else float("nan"))
    return out


def estimator_outliers(columns: Mapping[str, np.ndarray], used: np.ndarray, *, max_sigmas: float = 6.0
                       ) -> dict[str, dict[int, str]]:
    """Shots where the fit or the template disagrees with the first moment far beyond both their errors: the
    estimator locked onto something else (a residual fringe next to a faint cloud), whatever error it quotes.

    The difference ``d = x - x_moment`` of each used shot, less its run median (the constant offset of an
    estimator), is divided by ``sqrt(err^2 + err_moment^2)``; the standardised differences are rescaled by their
    robust spread over the run when that exceeds one (errors a little optimistic do not flag shots), and a shot beyond
    ``max_sigmas`` is listed, per estimator, with the reason. At least 10 used shots.
    """
    out: dict[str, dict[int, str]] = {}
    x_moment = np.asarray(columns["x_moment_um"], float)
    err_moment = np.asarray(columns["x_moment_err_um"], float)
    for name in ("fit", "template"):
        d = np.asarray(columns[f"x_{name}_um"], float) - x_moment
        sigma = np.hypot(np.asarray(columns[f"x_{name}_err_um"], float), err_moment)
        ok = used & np.isfinite(d) & np.isfinite(sigma) & (sigma > 0)
        if ok.sum() < 10:
            continue
        median = float(np.median(d[ok]))
        z = np.where(ok, (d - median) / np.where(ok, sigma, 1.0), 0.0)
        scale = max(1.0, 1.4826 * float(np.median(np.abs(z[ok] - np.median(z[ok])))))
        far = np.flatnonzero(ok & (np.abs(z) > max_sigmas * scale))
        out[name] = {int(i): (f"its centre disagrees with the first moment by {d[i] - median:+.3g} um more than the "
                              f"run's other shots, {abs(z[i]):.0f} times the two errors combined: it did not measure "
                              "this cloud") for i in far}
    return out


def choose_estimator(requested: str, columns: Mapping[str, np.ndarray], used: np.ndarray) -> tuple[str, str, dict]:
    """The headline estimator of a run (see the module docstring) and why, with the consistency of each estimator
    with the first moment.

    Parameters
    ----------
    requested : {'auto', 'fit', 'moment', 'template'}
    columns : mapping
        The first-pass columns of :func:`gather_com_stage` (every shot of the run).
    used : ndarray of bool
        Shots that passed the physical cuts.

    Returns
    -------
    estimator, reason, consistency
        ``consistency`` maps 'fit' and 'template' to :func:`estimator_consistency` over the used pumped shots.
    """
    pumped = used & ~np.asarray(columns["reference"], bool)
    consistency = {}
    for name in ("fit", "template"):
        x = np.asarray(columns[f"x_{name}_um"], float)
        if np.isfinite(x[pumped]).sum() >= 3:
            consistency[name] = estimator_consistency(x[pumped], np.asarray(columns["x_moment_um"], float)[pumped],
                                                      np.asarray(columns["cycle"], float)[pumped],
                                                      np.asarray(columns["direction"], float)[pumped])
    if requested != "auto":
        return requested, f"com.estimator: {requested} (set in the config)", consistency
    if not used.any():
        return "moment", "no shot passed the cuts", consistency
    errors = {}
    for name in ESTIMATORS:
        x, err = np.asarray(columns[f"x_{name}_um"], float), np.asarray(columns[f"x_{name}_err_um"], float)
        problems = np.asarray(columns.get(f"{name}_problem", np.full(x.size, "")), dtype=object)
        if np.all(np.isfinite(x[used]) & np.isfinite(err[used])) and not any(str(p) for p in problems[used]):
            errors[name] = float(np.median(err[used]))
    measured = ", ".join(f"{k} {v:.3g} um" for k, v in errors.items())
    best = min(errors, key=errors.get)
    if best == "template" and "fit" in errors and errors["template"] > 0.95 * errors["fit"]:
        best = "fit"
    if best == "moment":
        return best, f"smallest median error among the estimators that measured every shot ({measured})", consistency
    check = consistency.get(best, {})
    sigma = check.get("slope_sigma", 0.0)
    if np.isfinite(sigma) and abs(sigma) > 3.0:
        return "moment", (f"the {best} estimator had the smallest median error ({measured}), but its difference from "
                          f"the first moment drifts by {check['slope_um_per_cycle']:+.3g} +- "
                          f"{check['slope_err_um_per_cycle']:.2g} um per cycle ({sigma:+.1f} sigma): the cloud changes "
                          "shape as it is pumped, so the first moment (the centre of mass itself) is the headline"), \
            consistency
    why = ("the profile model does not describe the cloud as well as the run's own mean shape" if best == "template"
           else "the profile model describes the cloud")
    return best, (f"smallest median error among the estimators that measured every shot ({measured}); {why}; "
                  f"consistent with the first moment cycle by cycle (drift {sigma:+.1f} sigma)"), consistency


def gather_com_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                     com: Config) -> dict:
    """Concatenate per-batch centre-of-mass files into one per-shot table (``results/com/com.nc``), applying the
    run-level atom-number outlier cut (:func:`atom_number_outliers`) and choosing the headline estimator
    (:func:`choose_estimator`).

    Streams, so that memory does not grow with the run: a first pass reads the per-shot numbers the run-level cut,
    the estimator choice and the summaries need (about 150 bytes per shot, plus an 8-byte hash of each shot id to
    find repeated ids); a second pass copies one batch at a time into the output
    (:func:`atompump.io.netcdf.write_dataset_blocks`), with the cut and the chosen estimator applied.

    Returns
    -------
    dict
        ``n_shots``, ``n_used``, ``n_outliers`` and the file's attributes (estimator choice and summaries).

    Raises
    ------
    InputDataError
        No batch, an unreadable batch file, or a shot id in more than one batch.
    """
    if not batch_paths:
        raise InputDataError("no centre-of-mass batches to gather")
    try:
        with xr.open_dataset(batch_paths[0], engine="h5netcdf") as part:  # variables, dtypes and attributes
            template = part.isel(shot=slice(0, 0)).load()
    except (OSError, ValueError) as exc:
        raise InputDataError(f"{batch_paths[0]}: cannot read as netCDF ({exc}); delete it and rerun the step that "
                             "made it") from exc
    progress = Progress(log, "gather, pass 1 of 2 (run-level cut)", len(batch_paths), unit="batch files")
    columns: dict[str, list[np.ndarray]] = {name: [] for name in _GATHER_FIRST_PASS if name != "shot"}
    digests: list[np.ndarray] = []
    sizes = []
    for path in batch_paths:
        values = _read_first_pass(path)
        sizes.append(values["shot"].size)
        digests.append(np.array([_shot_hash(s) for s in values["shot"]], dtype=np.uint64))
        for name in columns:
            columns[name].append(values[name])
        progress.update()
    first = {name: np.concatenate(parts) for name, parts in columns.items()}
    _check_unique_shots(np.concatenate(digests), batch_paths, sizes)
    max_mads = com["atom_number_outlier_mads"]
    outliers = atom_number_outliers(first["atom_number"], first["used"].astype(bool),
                                    max_mads=None if max_mads is None else float(max_mads))
    used = first["used"].astype(bool)
    used[list(outliers)] = False
    requested = str(template.attrs.get("estimator_requested", com["estimator"]))
    screened = estimator_outliers(first, used)
    for name, found in screened.items():
        for i, reason in found.items():
            first[f"{name}_problem"][i] = reason
    chosen, why, consistency = choose_estimator(requested, first, used)
    # auto chose an estimator that measured every used shot; a fixed choice of the fit or the template rejects the
    # shots it could not measure (the batches rejected its failures already; the run-level screen adds its outliers)
    failed = {int(i): estimator_failure(chosen, f"{chosen} estimator: {first[f'{chosen}_problem'][i]}")
              for i in np.flatnonzero(used) if chosen in _FAILED and first[f"{chosen}_problem"][i]}
    used[list(failed)] = False
    log.info("headline estimator: %s (%s)", chosen, why)
    attrs = {**template.attrs, "estimator": chosen, "estimator_reason": why,
             "estimator_consistency": json.dumps(consistency, sort_keys=True),
             **_efficiency_attrs(used, first)}
    names = list(template.variables)
    progress = Progress(log, "gather, pass 2 of 2 (write com.nc)", len(batch_paths), unit="batch files")
    long_name = f"centre of mass along the pump axis ({chosen})"

    def blocks():
        start = 0
        for path, size in zip(batch_paths, sizes):
            block = _read_batch(path, names)
            block["x_com_um"] = np.asarray(block[f"x_{chosen}_um"], float).copy()
            block["x_com_err_um"] = np.asarray(block[f"x_{chosen}_err_um"], float).copy()
            for name, found in screened.items():
                for i in [i for i in found if start <= i < start + size]:
                    block[f"{name}_problem"][i - start] = found[i]
            for i in [i for i in (*outliers, *failed) if start <= i < start + size]:
                reason = outliers.get(i) or failed[i]
                block["reject_reason"][i - start], block["reject_cause"][i - start] = str(reason), reason.code
                block["used"][i - start] = False
            start += size
            yield block
            progress.update()

    out = template.assign_attrs(attrs)
    out["x_com_um"].attrs["long_name"] = long_name
    write_dataset_blocks(out_path, out, blocks(), size=int(sum(sizes)),
                         title="atompump centre of mass of every shot of the run")
    log.info("gathered %d shots from %d batch files: %d used, %d atom-number outliers rejected", sum(sizes),
             len(batch_paths), int(used.sum()), len(outliers))
    return {"n_shots": int(sum(sizes)), "n_used": int(used.sum()), "n_outliers": len(outliers), **attrs}


def _check_unique_shots(digests: np.ndarray, batch_paths: Sequence[str | os.PathLike], sizes: Sequence[int]) -> None:
    """Raise InputDataError naming the shot ids found in more than one row (compared by hash, then by id)."""
    unique, counts = np.unique(digests, return_counts=True)
    suspects = set(unique[counts > 1].tolist())
    if not suspects:
        return
    rows: Counter = Counter()
    for path, size in zip(batch_paths, sizes):  # only on the error path: read the ids again
        shots = _read_batch(path, ["shot"])["shot"]
        for s in shots:
            if _shot_hash(s) in suspects:
                rows[str(s)] += 1
    repeated = sorted(s for s, c in rows.items() if c > 1)
    if repeated:
        raise InputDataError(f"shot ids repeat across batches: {repeated}")


def _efficiency_attrs(used: np.ndarray, columns: Mapping[str, np.ndarray]) -> dict:
    """Run summaries of the estimators over the used shots: median error, median error from independent pixel noise
    alone, and the expected efficiency median((bound/error)^2) against the template's bound (the bound of the
    cloud's own shape) when there is one, else the profile fit's."""
    if not used.any():
        return {}
    crb_template = np.asarray(columns["crb_template_um"], float)[used]
    bound_name = "template" if np.isfinite(crb_template).all() else "fit"
    crb = crb_template if bound_name == "template" else np.asarray(columns["crb_um"], float)[used]
    attrs: dict[str, Any] = {"median_crb_um": float(np.nanmedian(crb)), "crb_of": bound_name}
    for name in ESTIMATORS:
        err = np.asarray(columns[f"x_{name}_err_um"], float)[used]
        if not np.isfinite(err).any():
            continue
        attrs[f"median_{name}_err_um"] = float(np.nanmedian(err))
        attrs[f"median_{name}_white_err_um"] = float(np.nanmedian(np.asarray(columns[f"x_{name}_white_err_um"],
                                                                              float)[used]))
        attrs[f"efficiency_{name}"] = float(np.nanmedian((crb / err) ** 2))
    return attrs


def rejections_by_cause(com: xr.Dataset) -> list[tuple[RejectCause, list[str], list[str]]]:
    """The rejected shots of ``com.nc`` grouped by the code of their cause (``reject_cause``), the most frequent
    cause first (ties by code).

    Returns
    -------
    list of (cause, shots, reasons)
        Each :class:`~atompump.reasons.RejectCause` (``.value`` the code, ``.label`` the text), its shots in run
        order, and their full reasons.
    """
    reasons = com.reject_reason.values
    if "reject_cause" not in com.variables:
        if any(str(r) for r in reasons):
            raise InputDataError("the centre-of-mass table has reject reasons without their causes (reject_cause): it "
                                 "was written by an older atompump; delete results/com and rerun")
        return []
    groups: dict[RejectCause, tuple[list[str], list[str]]] = {}
    for shot, cause, reason in zip(com.shot.values, com.reject_cause.values, reasons):
        if str(cause):
            members = groups.setdefault(RejectCause(str(cause)), ([], []))
            members[0].append(str(shot))
            members[1].append(str(reason))
    return [(cause, *groups[cause]) for cause in sorted(groups, key=lambda c: (-len(groups[c][0]), c.value))]


def com_report_rows(com: xr.Dataset) -> list[tuple[str, object, str]]:
    """Rows for the report: the headline estimator and why, every estimator's errors against the Cramér–Rao bound
    and against independent pixel noise, the drift of each against the first moment, and rejections by cause."""
    rows: list[tuple[str, object, str]] = []
    attrs = com.attrs
    if "estimator" in attrs:
        rows.append(("centre-of-mass estimator of the headline",
                     f"{attrs['estimator']} (requested: {attrs.get('estimator_requested', attrs['estimator'])}; "
                     f"profile model {attrs.get('profile_model')})", ""))
    if attrs.get("estimator_reason"):
        rows.append(("why this estimator", attrs["estimator_reason"], ""))
    if "median_crb_um" in attrs:
        rows.append((f"median Cramer-Rao bound of one shot ({attrs.get('crb_of', 'fit')} model, independent pixel "
                     "noise)", attrs["median_crb_um"], "um"))
        for name in ESTIMATORS:
            if f"median_{name}_err_um" not in attrs:
                continue
            err, white = attrs[f"median_{name}_err_um"], attrs[f"median_{name}_white_err_um"]
            text = f"{err:.4g} um; efficiency (bound/error)^2 {attrs[f'efficiency_{name}']:.2f}"
            if white > 0:
                text += f"; {err / white:.1f} times the error from independent pixel noise alone"
            rows.append((f"median error of one shot, {name} estimator", text, ""))
    for name, check in json.loads(attrs.get("estimator_consistency", "{}")).items():
        if "slope_um_per_cycle" in check:
            rows.append((f"{name} minus first moment: drift per pump cycle",
                         f"{check['slope_um_per_cycle']:+.3g} +- {check['slope_err_um_per_cycle']:.2g} "
                         f"({check['slope_sigma']:+.1f} sigma)", "um"))
    for cause, shots, _ in rejections_by_cause(com):
        rows.append((f"rejected: {cause.label}", len(shots), "shots"))
    return rows


def estimator_table(com: xr.Dataset) -> tuple[str, list[str], list[tuple]] | None:
    """The report's table of each estimator beside the first moment, cycle by cycle (mean difference and its
    error, um), from ``com.nc``'s ``estimator_consistency``; None when there is nothing to compare."""
    checks = json.loads(com.attrs.get("estimator_consistency", "{}"))
    if not checks:
        return None
    names = sorted(checks)
    keys = sorted({(g["cycle"], g["direction"]) for c in checks.values() for g in c["groups"]})
    rows = []
    for cycle, direction in keys:
        row: list = [cycle, direction]
        for name in names:
            group = next((g for g in checks[name]["groups"] if (g["cycle"], g["direction"]) == (cycle, direction)),
                         None)
            if group is None:
                row.append("")
            elif np.isfinite(group["err_um"]):
                row.append(f"{group['mean_um']:+.4f} +- {group['err_um']:.2g} ({group['n']})")
            else:  # one shot: no scatter to take an error from
                row.append(f"{group['mean_um']:+.4f} ({group['n']})")
        rows.append(tuple(row))
    return ("Estimators beside the first moment, cycle by cycle: mean of (estimator - first moment) over the used "
            "pumped shots, um (a constant offset is harmless; a drift with the cycles means the cloud changes shape)",
            ["cycle", "direction", *[f"{n} - moment (shots)" for n in names]], rows)
