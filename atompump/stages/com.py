"""Stage com: centres of mass of one batch (both estimators), and the gathered per-shot Dataset with run-level cuts.

Quality cuts, each with its reason in ``reject_reason`` (nothing is dropped silently):

* bad input (recorded by the reduce step);
* the chosen estimator failed: window did not converge, cloud at the edge of the ROI, profile fit failed;
* mask coverage: more than ``com.max_masked_fraction`` of the cloud window masked;
* atom number below ``com.min_atom_number``;
* atom-number outliers across the run (in :func:`gather_com_stage`): more than ``com.atom_number_outlier_mads``
  robust standard deviations (1.4826 MAD) from the run's median.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from atompump.com import ESTIMATORS, locate_cloud
from atompump.config import cross_section_um2, species
from atompump.errors import InputDataError
from atompump.io.netcdf import read_dataset, write_dataset

log = logging.getLogger(__name__)

__all__ = ["com_batch_stage", "com_report_rows", "gather_com_stage", "reject_atom_number_outliers"]

Config = Mapping[str, Any]



def com_batch_stage(reduced: str | os.PathLike, out_path: str | os.PathLike, *, imaging: Config, com: Config,
                    atom: str) -> xr.Dataset:
    """Centre of mass of each shot of a reduced batch (both estimators), written to ``out_path``.

    ``x_com_um``/``x_com_err_um`` are those of ``com.estimator``; ``x_moment_um``, ``x_fit_um`` (with errors),
    ``crb_um`` and ``fit_reduced_chi2`` are kept for every shot so that the report can compare the estimators.
    Positions are in um from pixel 0 of the full frame.
    """
    ds = read_dataset(reduced)
    pixel = float(ds.attrs["pixel_size_um"])
    axis = str(ds.attrs["pump_axis"])
    estimator = str(com.get("estimator", "fit"))
    if estimator not in ESTIMATORS:
        raise InputDataError(f"config key 'com.estimator': {estimator!r} is not allowed; allowed: {list(ESTIMATORS)}")
    model = str(com.get("profile_model", "gaussian"))
    # positions from the frame's pixel 0, not the ROI's
    offset_px = float(ds.x.values[0] if axis == "x" else ds.y.values[0]) if "x" in ds.coords else 0.0
    sigma = cross_section_um2(imaging, species({"atom": atom}))
    n = ds.sizes["shot"]
    out = {name: np.full(n, np.nan) for name in ("x_moment_um", "x_moment_err_um", "x_fit_um", "x_fit_err_um",
                                                 "crb_um", "fit_reduced_chi2", "integrated", "masked")}
    reasons = [str(r) for r in ds.reject_reason.values]
    factors = ds["variance_factor"].values if "variance_factor" in ds else None
    for i in range(n):
        if reasons[i]:
            continue
        located = locate_cloud(ds.od.values[i], pixel_size_um=pixel, pump_axis=axis, valid=ds.valid.values[i],
                               variance_factor=None if factors is None else factors[i], estimator=estimator,
                               model=model, window_widths=float(com["window_widths"]),
                               max_masked_fraction=float(com["max_masked_fraction"]))
        moment, fit = located.moment, located.fit
        shift = offset_px * pixel
        out["x_moment_um"][i], out["x_moment_err_um"][i] = moment.x_um + shift, moment.x_err_um
        out["x_fit_um"][i], out["x_fit_err_um"][i] = fit.x_um + shift, fit.x_err_um
        out["crb_um"][i], out["fit_reduced_chi2"][i] = fit.crb_um, fit.reduced_chi2
        out["integrated"][i], out["masked"][i] = moment.integrated_od, moment.masked_fraction
        reasons[i] = located.reject_reason
    atom_number = out["integrated"] * pixel**2 / sigma
    min_atoms = float(com["min_atom_number"])
    for i in range(n):
        if not reasons[i] and not atom_number[i] >= min_atoms:
            reasons[i] = f"atom number {atom_number[i]:.0f} below com.min_atom_number = {min_atoms:g}"
    chosen = "x_fit_um" if estimator == "fit" else "x_moment_um"
    um = {"units": "um"}
    result = xr.Dataset(
        {
            "x_com_um": ("shot", out[chosen], {**um, "long_name": f"centre of mass along the pump axis ({estimator})"}),
            "x_com_err_um": ("shot", out[chosen.replace("_um", "_err_um")],
                             {**um, "long_name": "uncertainty of the centre of mass (noise model)"}),
            "x_moment_um": ("shot", out["x_moment_um"], {**um, "long_name": "first moment in the adaptive window"}),
            "x_moment_err_um": ("shot", out["x_moment_err_um"], {**um, "long_name": "uncertainty of x_moment_um"}),
            "x_fit_um": ("shot", out["x_fit_um"], {**um, "long_name": f"centre of the {model} profile fit"}),
            "x_fit_err_um": ("shot", out["x_fit_err_um"], {**um, "long_name": "uncertainty of x_fit_um"}),
            "crb_um": ("shot", out["crb_um"], {**um, "long_name": "Cramer-Rao bound of the centre (noise model)"}),
            "fit_reduced_chi2": ("shot", out["fit_reduced_chi2"], {"units": "1",
                                                                   "long_name": "reduced chi^2 of the profile fit"}),
            "atom_number": ("shot", atom_number, {"units": "1",
                                                  "long_name": "atom number from OD and the cross-section"}),
            "masked_fraction": ("shot", out["masked"], {"units": "1",
                                                        "long_name": "masked fraction of the cloud window"}),
            "used": ("shot", np.array([not r for r in reasons]), {"long_name": "shot passed the quality cuts"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why the shot was rejected"}),
        },
        coords={name: ds.coords[name] for name in ds.coords if ds.coords[name].dims == ("shot",)},
        attrs={"pixel_size_um": pixel, "pump_axis": axis, "cross_section_um2": sigma, "estimator": estimator,
               "profile_model": model},
    )
    write_dataset(result, out_path)
    return result


def reject_atom_number_outliers(atom_number: np.ndarray, used: np.ndarray, reasons: list[str], *,
                                max_mads: float | None) -> list[str]:
    """Reasons with atom-number outliers of the used shots added (robust z-score above ``max_mads``)."""
    reasons = list(reasons)
    if max_mads is None:
        return reasons
    values = atom_number[used]
    if values.size < 5:
        return reasons
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if spread <= 0:
        return reasons
    for i in np.flatnonzero(used):
        z = (atom_number[i] - median) / spread
        if abs(z) > max_mads:
            reasons[i] = (f"atom number {atom_number[i]:.0f} is an outlier: {z:+.1f} robust standard deviations from "
                          f"the run's median {median:.0f} (com.atom_number_outlier_mads = {max_mads:g})")
    return reasons


def gather_com_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                     com: Config | None = None) -> xr.Dataset:
    """Concatenate per-batch centre-of-mass files into one per-shot Dataset (``results/com/com.nc``), applying the
    run-level atom-number outlier cut."""
    if not batch_paths:
        raise InputDataError("no centre-of-mass batches to gather")
    # one batch at a time: only the per-shot columns are kept, never all batch Datasets at once
    columns: dict[str, list[np.ndarray]] = {}
    template = None
    for path in batch_paths:
        try:
            with xr.open_dataset(path, engine="h5netcdf") as part:
                if template is None:
                    template = part.isel(shot=slice(0, 0)).load()
                for name in part.variables:
                    columns.setdefault(name, []).append(part[name].values)
        except (OSError, ValueError) as exc:
            raise InputDataError(f"{path}: cannot read as netCDF ({exc}); delete it and rerun the step that made "
                                 "it") from exc
    arrays = {name: np.concatenate(parts) for name, parts in columns.items()}
    ds = xr.Dataset({name: ("shot", arrays[name], template[name].attrs) for name in template.data_vars},
                    coords={name: ("shot", arrays[name], template[name].attrs) for name in template.coords},
                    attrs=template.attrs)
    shots = ds.shot.values
    unique, counts = np.unique(shots, return_counts=True)
    if np.any(counts > 1):
        raise InputDataError(f"shot ids repeat across batches: {unique[counts > 1].tolist()}")
    max_mads = (com or {}).get("atom_number_outlier_mads")
    reasons = reject_atom_number_outliers(ds.atom_number.values, ds.used.values.astype(bool),
                                          [str(r) for r in ds.reject_reason.values],
                                          max_mads=None if max_mads is None else float(max_mads))
    ds["reject_reason"] = ("shot", np.array(reasons, dtype=object), ds.reject_reason.attrs)
    ds["used"] = ("shot", np.array([not r for r in reasons]), ds.used.attrs)
    ds.attrs.update(_efficiency_attrs(ds))
    write_dataset(ds, out_path)
    return ds


def _efficiency_attrs(ds: xr.Dataset) -> dict:
    """Run summaries of the estimators: median error, median bound, expected efficiency (bound/error)^2."""
    used = ds.used.values.astype(bool)
    attrs = {}
    if not used.any() or "crb_um" not in ds:
        return attrs
    crb = ds.crb_um.values[used]
    attrs["median_crb_um"] = float(np.nanmedian(crb))
    for name in ("moment", "fit"):
        err = ds[f"x_{name}_err_um"].values[used]
        attrs[f"median_{name}_err_um"] = float(np.nanmedian(err))
        attrs[f"efficiency_{name}"] = float(np.nanmedian((crb / err) ** 2))
    return attrs


def _cause(reason: str) -> str:
    """A reason without its numbers, to count rejections by cause."""
    for marker in (" is an outlier", " below com.min_atom_number", " of the cloud window is masked",
                   "profile fit failed", "touches the image edge", "did not converge", "does not exist",
                   "cannot read", "NaN", "all zero", "probe light", "different shapes", "differs from the run",
                   "duplicate shot id", "unexpected dtype"):
        if marker in reason:
            return marker.strip()
    return reason.split(":")[0][:60]


def com_report_rows(com: xr.Dataset) -> list[tuple[str, object, str]]:
    """Rows for the report: the estimator, its errors against the Cramér–Rao bound, and rejections by cause."""
    rows: list[tuple[str, object, str]] = []
    attrs = com.attrs
    if "estimator" in attrs:
        rows.append(("centre-of-mass estimator", f"{attrs['estimator']} (profile model {attrs.get('profile_model')})",
                     ""))
    if "median_crb_um" in attrs:
        rows.append(("median Cramer-Rao bound of one shot", attrs["median_crb_um"], "um"))
        for name in ("fit", "moment"):
            rows.append((f"median error, {name} estimator (efficiency (CRB/error)^2)",
                         f"{attrs[f'median_{name}_err_um']:.4g} ({attrs[f'efficiency_{name}']:.2f})", "um"))
    causes = Counter(_cause(str(r)) for r in com.reject_reason.values if str(r))
    for cause, count in sorted(causes.items(), key=lambda kv: (-kv[1], kv[0])):
        rows.append((f"rejected: {cause}", count, "shots"))
    return rows
