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

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.com import ESTIMATORS, locate_cloud
from atompump.config import cross_section_um2, species
from atompump.errors import InputDataError
from atompump.io.netcdf import read_dataset, read_variables, write_dataset, write_dataset_blocks

log = logging.getLogger(__name__)

__all__ = ["atom_number_outliers", "com_batch_stage", "com_report_rows", "gather_com_stage",
           "reject_atom_number_outliers", "rejections_by_cause"]

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
               "profile_model": model,
               "input": str(ds.attrs.get("input", "frames"))},  # od: no reduction, errors from the noise measured
    )
    write_dataset(result, out_path)
    return result


def atom_number_outliers(atom_number: np.ndarray, used: np.ndarray, *, max_mads: float | None) -> dict[int, str]:
    """Atom-number outliers among the used shots (robust z-score above ``max_mads``): index -> reason.

    The robust z-score is ``(N - median) / (1.4826 MAD)`` over the used shots; no cut with ``max_mads=None``, fewer
    than 5 used shots, or a zero MAD.
    """
    if max_mads is None:
        return {}
    used = np.asarray(used, dtype=bool)
    values = atom_number[used]
    if values.size < 5:
        return {}
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    if spread <= 0:
        return {}
    out = {}
    for i in np.flatnonzero(used):
        z = (atom_number[i] - median) / spread
        if abs(z) > max_mads:
            out[int(i)] = (f"atom number {atom_number[i]:.0f} is an outlier: {z:+.1f} robust standard deviations "
                           f"from the run's median {median:.0f} (com.atom_number_outlier_mads = {max_mads:g})")
    return out


def reject_atom_number_outliers(atom_number: np.ndarray, used: np.ndarray, reasons: list[str], *,
                                max_mads: float | None) -> list[str]:
    """Reasons with atom-number outliers of the used shots added (:func:`atom_number_outliers`)."""
    reasons = list(reasons)
    for i, reason in atom_number_outliers(atom_number, used, max_mads=max_mads).items():
        reasons[i] = reason
    return reasons


def _read_batch(path: str | os.PathLike, names: Sequence[str]) -> dict[str, np.ndarray]:
    return read_variables(path, list(names))[0]  # InputDataError naming the file when it cannot be read


def _shot_hash(shot: object) -> int:
    """A 64-bit hash of a shot id (the same in every process, unlike :func:`hash`)."""
    return int.from_bytes(hashlib.blake2b(str(shot).encode(), digest_size=8).digest(), "little")


_GATHER_FIRST_PASS = ("shot", "atom_number", "used", "crb_um", "x_moment_err_um", "x_fit_err_um")


def gather_com_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike, *,
                     com: Config | None = None) -> dict:
    """Concatenate per-batch centre-of-mass files into one per-shot table (``results/com/com.nc``), applying the
    run-level atom-number outlier cut (:func:`atom_number_outliers`).

    Streams, so that memory does not grow with the run: a first pass reads the few per-shot numbers the run-level cut
    and summaries need (atom number, used, bound and errors: 33 bytes per shot, plus an 8-byte hash of each shot id
    to find repeated ids); a second pass copies one batch at a time into the output
    (:func:`atompump.io.netcdf.write_dataset_blocks`), with the cut applied.

    Returns
    -------
    dict
        ``n_shots``, ``n_used``, ``n_outliers`` and the file's attributes (estimator summaries, see
        :func:`_efficiency_attrs`).

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
        values = _read_batch(path, _GATHER_FIRST_PASS)
        sizes.append(values["shot"].size)
        digests.append(np.array([_shot_hash(s) for s in values["shot"]], dtype=np.uint64))
        for name in columns:
            columns[name].append(values[name])
        progress.update()
    first = {name: np.concatenate(parts) for name, parts in columns.items()}
    _check_unique_shots(np.concatenate(digests), batch_paths, sizes)
    max_mads = (com or {}).get("atom_number_outlier_mads")
    outliers = atom_number_outliers(first["atom_number"], first["used"].astype(bool),
                                    max_mads=None if max_mads is None else float(max_mads))
    used = first["used"].astype(bool)
    used[list(outliers)] = False
    attrs = {**template.attrs, **_efficiency_attrs(used, first["crb_um"], first["x_moment_err_um"],
                                                   first["x_fit_err_um"])}
    names = list(template.variables)
    progress = Progress(log, "gather, pass 2 of 2 (write com.nc)", len(batch_paths), unit="batch files")

    def blocks():
        start = 0
        for path, size in zip(batch_paths, sizes):
            block = _read_batch(path, names)
            for i in [i for i in outliers if start <= i < start + size]:
                block["reject_reason"][i - start] = outliers[i]
                block["used"][i - start] = False
            start += size
            yield block
            progress.update()

    write_dataset_blocks(out_path, template.assign_attrs(attrs), blocks(), size=int(sum(sizes)))
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


def _efficiency_attrs(used: np.ndarray, crb: np.ndarray, moment_err: np.ndarray, fit_err: np.ndarray) -> dict:
    """Run summaries of the estimators over the used shots: median error, median Cramer-Rao bound, and the expected
    efficiency median((bound/error)^2)."""
    if not used.any():
        return {}
    crb = crb[used]
    attrs = {"median_crb_um": float(np.nanmedian(crb))}
    for name, err in (("moment", moment_err), ("fit", fit_err)):
        attrs[f"median_{name}_err_um"] = float(np.nanmedian(err[used]))
        attrs[f"efficiency_{name}"] = float(np.nanmedian((crb / err[used]) ** 2))
    return attrs


# causes of bad input named by the reduction (atompump.diagnose, atompump.io), checked before the generic markers
_INPUT_CAUSES = ("camera saturated in the atoms frame", "camera saturated in the probe frame",
                 "dark frame brighter than the probe frame", "atoms frame brighter than the probe frame",
                 "no light in the atoms frame", "negative optical density", "no finite pixel", "are infinite",
                 "has a finite OD", "is not an optical density", "both od and", "never a mix", "data.frames.od",
                 "no probe light")  # last: other reasons may mention probe light in their advice


def _cause(reason: str) -> str:
    """A reason without its numbers, to count rejections by cause."""
    for marker in (*_INPUT_CAUSES, " is an outlier", " below com.min_atom_number", " of the cloud window is masked",
                   "profile fit failed", "touches the image edge", "did not converge", "does not exist",
                   "cannot read", "NaN", "all zero", "probe light", "different shapes", "differs from the run",
                   "duplicate shot id", "unexpected dtype"):
        if marker in reason:
            return marker.strip()
    return reason.split(":")[0][:60]


def rejections_by_cause(shots: Sequence[object], reasons: Sequence[object]) -> list[tuple[str, list[str], list[str]]]:
    """The rejected shots grouped by cause (:func:`_cause`), the most frequent cause first (ties by name).

    Returns
    -------
    list of (cause, shots, reasons)
        The shots of each cause in run order, with their full reasons.
    """
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for shot, reason in zip(shots, reasons):
        if str(reason):
            members = groups.setdefault(_cause(str(reason)), ([], []))
            members[0].append(str(shot))
            members[1].append(str(reason))
    return [(cause, *groups[cause]) for cause in sorted(groups, key=lambda c: (-len(groups[c][0]), c))]


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
