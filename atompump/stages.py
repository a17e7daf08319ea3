"""Stage entry points: read inputs through :mod:`atompump.io`, call the pure functions, write outputs atomically.

The workflow's scripts are thin adapters around these functions; tests and notebooks can call them directly.
Config sections are passed as plain mappings (already validated and filled with defaults by the workflow).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from atompump.com import centre_of_mass
from atompump.config import cross_section_um2, lattice_params, species
from atompump.errors import BadShotsError, InputDataError
from atompump.io.atomic import write_json, write_text
from atompump.io.frames import read_frame
from atompump.io.manifest import FRAME_NAMES, read_manifest
from atompump.io.netcdf import read_dataset, write_dataset
from atompump.reduce import optical_density

__all__ = [
    "simulate_stage",
    "reduce_batch_stage",
    "com_batch_stage",
    "gather_com_stage",
    "theory_stage",
    "fit_stage",
    "figures_stage",
    "report_stage",
]

log = logging.getLogger(__name__)
Config = Mapping[str, Any]


# --------------------------------------------------------------------------------------------------- simulate
def simulate_stage(out_dir: str | os.PathLike, *, simulation: Config, imaging: Config, lattice: Config,
                   atom: str) -> dict:
    """Simulate a run into ``out_dir`` (manifest.csv, frames/, truth.json)."""
    from atompump.simulate.run import SimulationParams, simulate_run

    sp = species({"atom": atom})
    params = SimulationParams(
        seed=int(simulation["seed"]),
        cycles=tuple(float(c) for c in simulation["cycles"]),
        directions=tuple(int(d) for d in simulation["directions"]),
        repeats=int(simulation["repeats"]),
        nu_true=float(simulation["nu_true"]),
        dl_um=float(lattice["lambda_l_nm"]) / 2.0 * 1e-3,
        atom_number=float(simulation["atom_number"]),
        atom_number_jitter=float(simulation["atom_number_jitter"]),
        cloud_sigma_um=tuple(float(s) for s in simulation["cloud_sigma_um"]),
        position_jitter_um=float(simulation["position_jitter_um"]),
        image_shape=tuple(int(s) for s in simulation["image_shape"]),
        pixel_size_um=float(imaging["pixel_size_um"]),
        pump_axis=str(imaging["pump_axis"]),
        probe_counts=float(simulation["probe_counts"]),
        camera_gain=float(simulation["camera_gain"]),
        dark_offset_counts=float(simulation["dark_offset_counts"]),
        read_noise_counts=float(simulation["read_noise_counts"]),
        cross_section_um2=cross_section_um2(imaging, sp),
        alpha=float(imaging["alpha"]),
        isat_counts=None if imaging.get("isat_counts") is None else float(imaging["isat_counts"]),
    )

    return simulate_run(out_dir, params)


# ----------------------------------------------------------------------------------------------------- reduce
def batch_records(manifest: str | os.PathLike, *, batch: int, batch_size: int):
    """The manifest rows of batch number ``batch`` (0-based) of size ``batch_size``."""
    records = read_manifest(manifest)
    if batch < 0 or batch * batch_size >= len(records):
        raise InputDataError(f"batch {batch} is empty: {manifest} has {len(records)} shots "
                             f"({batch_size} per batch)")
    return records[batch * batch_size:(batch + 1) * batch_size]


def reduce_batch_stage(manifest: str | os.PathLike, out_path: str | os.PathLike, *, batch: int,
                       batch_size: int, imaging: Config, on_bad_shot: str = "error",
                       min_valid_fraction: float = 0.01) -> xr.Dataset:
    """Optical density of one batch of shots, written to ``out_path`` (netCDF).

    Bad shots (unreadable frame, shapes that differ, no probe light) stop the stage with a
    :class:`~atompump.errors.BadShotsError` listing all of them, or with ``on_bad_shot='reject'`` are kept
    with an all-NaN image and their ``reject_reason``.
    """
    records = batch_records(manifest, batch=batch, batch_size=batch_size)
    ods, valids, reasons, shape = [], [], [], None
    problems: list[tuple[str, str]] = []
    for rec in records:
        reason = ""
        try:
            frames = {name: read_frame(rec.frames[name]) for name in FRAME_NAMES}
            shapes = {name: f.shape for name, f in frames.items()}
            if len(set(shapes.values())) > 1:
                raise InputDataError(f"frames have different shapes {shapes}")
            if shape is None:
                shape = frames["atoms"].shape
            elif frames["atoms"].shape != shape:
                raise InputDataError(f"frame shape {frames['atoms'].shape} differs from the run's {shape}")
            result = optical_density(frames["atoms"], frames["probe"], frames["dark"],
                                     alpha=float(imaging["alpha"]), isat_counts=imaging.get("isat_counts"),
                                     min_probe_counts=float(imaging["min_probe_counts"]),
                                     saturation_counts=imaging.get("saturation_counts"))
            fraction = float(result.valid.mean())
            if fraction < min_valid_fraction:
                raise InputDataError(
                    f"only {fraction:.1%} of pixels have probe light above {imaging['min_probe_counts']} counts "
                    f"(probe frame {rec.frames['probe']}); check the probe beam or imaging.min_probe_counts")
        except InputDataError as exc:
            reason = str(exc)
            problems.append((rec.shot, reason))
            result = None
        ods.append(result)
        reasons.append(reason)
    if problems and on_bad_shot != "reject":
        raise BadShotsError(problems, hint="Fix or remove these shots, or set data.on_bad_shot: reject to record "
                                           "them as rejected and go on.")
    if shape is None:
        raise BadShotsError(problems, hint="No shot of this batch could be read.")
    od = np.full((len(records),) + shape, np.nan, dtype=np.float32)
    valid = np.zeros((len(records),) + shape, dtype=bool)
    for i, result in enumerate(ods):
        if result is not None:
            od[i] = result.od
            valid[i] = result.valid
    for shot, reason in problems:
        log.warning("rejected shot %s: %s", shot, reason)
    ds = xr.Dataset(
        {
            "od": (("shot", "y", "x"), od, {"units": "1", "long_name": "optical density (NaN where masked)"}),
            "valid": (("shot", "y", "x"), valid, {"long_name": "pixel has probe light and no camera saturation"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why the shot is unusable"}),
        },
        coords=_shot_coords(records),
        attrs={"pixel_size_um": float(imaging["pixel_size_um"]), "pump_axis": str(imaging["pump_axis"]),
               "batch": int(batch)},
    )
    write_dataset(ds, out_path)
    return ds


def _shot_coords(records) -> dict:
    coords = {
        "shot": ("shot", np.array([r.shot for r in records], dtype=object), {"long_name": "shot id"}),
        "cycle": ("shot", np.array([r.cycle for r in records], dtype=float), {"units": "1",
                                                                              "long_name": "pump cycles"}),
        "direction": ("shot", np.array([r.direction for r in records], dtype=np.int8),
                      {"long_name": "pump direction (+1: phi increasing)"}),
        "reference": ("shot", np.array([r.reference for r in records], dtype=bool),
                      {"long_name": "constant-phi reference sequence"}),
    }
    for name in FRAME_NAMES:
        coords[f"{name}_file"] = ("shot", np.array([str(r.frames[name]) for r in records], dtype=object),
                                  {"long_name": f"{name} frame source"})
    return coords


# -------------------------------------------------------------------------------------------------------- com
def com_batch_stage(reduced: str | os.PathLike, out_path: str | os.PathLike, *, imaging: Config, com: Config,
                    atom: str) -> xr.Dataset:
    """Centre of mass of each shot of a reduced batch, written to ``out_path``."""
    ds = read_dataset(reduced)
    pixel = float(ds.attrs["pixel_size_um"])
    axis = str(ds.attrs["pump_axis"])
    sigma = cross_section_um2(imaging, species({"atom": atom}))
    n = ds.sizes["shot"]
    x = np.full(n, np.nan)
    err = np.full(n, np.nan)
    integrated = np.full(n, np.nan)
    masked = np.full(n, np.nan)
    reasons = [str(r) for r in ds.reject_reason.values]
    for i in range(n):
        if reasons[i]:
            continue
        result = centre_of_mass(ds.od.values[i], pixel_size_um=pixel, pump_axis=axis, valid=ds.valid.values[i],
                                window_widths=float(com["window_widths"]),
                                max_masked_fraction=float(com["max_masked_fraction"]))
        x[i], err[i], integrated[i], masked[i] = (result.x_um, result.x_err_um, result.integrated_od,
                                                  result.masked_fraction)
        reasons[i] = result.reject_reason
    atom_number = integrated * pixel**2 / sigma
    min_atoms = float(com["min_atom_number"])
    for i in range(n):
        if not reasons[i] and not atom_number[i] >= min_atoms:
            reasons[i] = f"atom number {atom_number[i]:.0f} below com.min_atom_number = {min_atoms:g}"
    out = xr.Dataset(
        {
            "x_com_um": ("shot", x, {"units": "um", "long_name": "centre of mass along the pump axis"}),
            "x_com_err_um": ("shot", err, {"units": "um", "long_name": "uncertainty of the centre of mass"}),
            "atom_number": ("shot", atom_number, {"units": "1",
                                                  "long_name": "atom number from OD and the cross-section"}),
            "masked_fraction": ("shot", masked, {"units": "1", "long_name": "masked fraction of the cloud window"}),
            "used": ("shot", np.array([not r for r in reasons]), {"long_name": "shot passed the quality cuts"}),
            "reject_reason": ("shot", np.array(reasons, dtype=object), {"long_name": "why the shot was rejected"}),
        },
        coords={name: ds.coords[name] for name in ds.coords if ds.coords[name].dims == ("shot",)},
        attrs={"pixel_size_um": pixel, "pump_axis": axis, "cross_section_um2": sigma,
               "estimator": "background-corrected first moment in an adaptive window"},
    )
    write_dataset(out, out_path)
    return out


def gather_com_stage(batch_paths: Sequence[str | os.PathLike], out_path: str | os.PathLike) -> xr.Dataset:
    """Concatenate per-batch centre-of-mass files into one per-shot Dataset (``results/com/com.nc``)."""
    parts = [read_dataset(p) for p in batch_paths]
    if not parts:
        raise InputDataError("no centre-of-mass batches to gather")
    ds = xr.concat(parts, dim="shot", combine_attrs="drop_conflicts")
    shots = ds.shot.values
    unique, counts = np.unique(shots, return_counts=True)
    if np.any(counts > 1):
        raise InputDataError(f"shot ids repeat across batches: {unique[counts > 1].tolist()}")
    write_dataset(ds, out_path)
    return ds


# ----------------------------------------------------------------------------------------------------- theory
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


# -------------------------------------------------------------------------------------------------------- fit
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


# ----------------------------------------------------------------------------------------------------- report
def figures_stage(*, com_path, summary_path, bands_path, reduced_path, out: Mapping[str, str | os.PathLike],
                  fit_path) -> None:
    """Draw the report figures: ``out`` maps 'example_od', 'com_vs_cycle', 'residuals', 'bands' to paths."""
    from atompump.report.figures import (bands_figure, com_vs_cycle_figure, od_image_figure, residuals_figure,
                                         save_figure)

    com = read_dataset(com_path)
    summary = json.loads(Path(summary_path).read_text())
    fit = read_dataset(fit_path)
    reduced = read_dataset(reduced_path)
    used_in_batch = [i for i, r in enumerate(reduced.reject_reason.values) if not r]
    i = used_in_batch[0] if used_in_batch else 0
    shot = str(reduced.shot.values[i])
    x_com = float(com.x_com_um.sel(shot=shot)) if shot in com.shot.values else None
    save_figure(od_image_figure(reduced.od.isel(shot=i), pixel_size_um=float(reduced.attrs["pixel_size_um"]),
                                x_com_um=x_com, pump_axis=str(reduced.attrs["pump_axis"]),
                                title=f"optical density, shot {shot}"), out["example_od"])
    save_figure(com_vs_cycle_figure(com, x0_um=summary["x0_um"], nu=summary["nu"], nu_err=summary["nu_err"],
                                    dl_um=summary["dl_um"], chern_number=summary["chern_number"],
                                    nu_theory=summary["nu_theory"]), out["com_vs_cycle"])
    used = com.used.values.astype(bool)
    save_figure(residuals_figure(com, fit.residual_um.values[used], reduced_chi2=summary["reduced_chi2"]),
                out["residuals"])
    save_figure(bands_figure(read_dataset(bands_path)), out["bands"])


def report_stage(out_html: str | os.PathLike, *, summary_path, com_path, figures: Mapping[str, str | os.PathLike],
                 truth_path: str | os.PathLike | None = None, config: Config | None = None,
                 title: str = "atompump report") -> str:
    """Assemble the self-contained HTML report."""
    from atompump import __version__
    from atompump.report.html import render_report

    s = json.loads(Path(summary_path).read_text())
    com = read_dataset(com_path)
    headline = (f"The cloud moved nu = {s['nu']:.3f} +- {s['nu_err']:.3f} lattice constants per cycle "
                f"({s['displacement_per_cycle_um']:.3f} +- {s['displacement_per_cycle_err_um']:.3f} um); the lowest "
                f"band's Chern number is {s['chern_number']:+d} (predicted nu = {s['nu_theory']:.3f}, deviation "
                f"{s['deviation_sigma']:+.1f} sigma).")
    rows = [
        ("nu (displacement per cycle / dl)", s["nu"], "1"), ("nu_err", s["nu_err"], "1"),
        ("displacement per cycle", s["displacement_per_cycle_um"], "um"),
        ("displacement per cycle error", s["displacement_per_cycle_err_um"], "um"),
        ("dl", s["dl_um"], "um"), ("Chern numbers (lowest first)", str(s["chern_numbers"]), ""),
        ("nu_theory", s["nu_theory"], "1"), ("deviation", s["deviation_sigma"], "sigma"),
        ("reduced chi^2", s["reduced_chi2"], "1"), ("shots used / total", f"{s['n_used']} / {s['n_shots']}", ""),
    ]
    notes = []
    if s.get("errors_scaled"):
        notes.append(f"The scatter exceeds the per-shot errors (reduced chi^2 = {s['reduced_chi2']:.2f}); the "
                     "quoted errors are scaled by sqrt(reduced chi^2).")
    if truth_path is not None and Path(truth_path).is_file():
        truth = json.loads(Path(truth_path).read_text())
        pull = (s["nu"] - truth["nu_true"]) / s["nu_err"]
        rows.append(("nu_true (simulation input)", truth["nu_true"], "1"))
        rows.append(("recovered - true", pull, "sigma"))
    captions = {
        "example_od": "Optical density of an example shot; the line marks its centre of mass.",
        "com_vs_cycle": "Centre of mass against pump cycles for both directions, with the fit (solid) and the "
                        "Chern-number prediction nu_theory * dl (dashed).",
        "residuals": "Residuals of the fit.",
        "bands": "Lowest bands over one pump cycle (shaded: range over quasi-momentum) with their Chern numbers, "
                 "and the hybrid Wannier centres, whose drift per cycle is C * dl.",
    }
    rejected = [(str(sh), str(r)) for sh, r in zip(com.shot.values, com.reject_reason.values) if r]
    provenance = {"atompump version": __version__}
    if config is not None:
        provenance["config"] = json.dumps(config, sort_keys=True, default=str)
    text = render_report(title=title, headline=headline, summary_rows=rows,
                         figures=[(figures[k], captions[k]) for k in captions if k in figures],
                         rejected=rejected, notes=notes, provenance=provenance)
    write_text(out_html, text)
    return text
