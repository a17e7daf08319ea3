"""Live analysis of a run while it is taken: each shot analysed as it lands, the fit redone, a dashboard kept.

The analysis is the workflow's own: every step calls the stage function its Snakemake rule calls
(:mod:`atompump.stages.reduce`, :mod:`atompump.stages.com`, :mod:`atompump.stages.fit`), on the shots that have
landed so far. What differs is only *when* the run-wide parts are rebuilt:

* **A new shot** (a manifest row whose frames exist, or a labscript file) is reduced with the current fringe basis,
  located with the current template (``reduce_batch_stage`` and ``com_batch_stage`` on a one-update segment of the
  run), and every shot so far is gathered and fitted again (``gather_com_stage``, ``fit_stage``; the bootstrap is
  left out of these interim fits). Cost per shot: one shot's reduction and estimators plus a gather and a fit of
  per-shot numbers, whatever the run's length.
* **The fringe basis and the template** (``fringe_basis_stage``, ``template_stage``) are rebuilt from the shots so
  far when the run has grown by ``rebuild_factor`` since the last rebuild, and at least every ``rebuild_every``
  shots. Each rebuild reads a bounded sample (``imaging.fringe_max_frames`` probe frames, ``com.template_shots``
  shots), so its cost is bounded too, and spread over the shots between rebuilds. Shots analysed earlier keep
  their results: a shot is never analysed twice while the run is being taken. The region of interest found at the
  first rebuild (from the first ``min_shots`` shots, or ``imaging.roi``) is kept for the later ones, so that every
  shot's OD has the same pixels.
* **The final pass** (:meth:`LiveAnalysis.finish`: when the run has ended, the watcher's idle timeout, or
  ``--once``) analyses every shot once more exactly as ``snakemake`` does (region of interest, basis and template
  from the whole run, the bootstrap), so the page's last nu is the batch analysis' nu.

Bad shots never stop a live run: they are listed on the page with their reason (``data.on_bad_shot`` applies to
the batch workflow).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from atompump.config import config_section
from atompump.errors import AtompumpError, InputDataError
from atompump.io.labscript import find_labscript_shots
from atompump.io.manifest import ShotRecord
from atompump.io.netcdf import read_variables, write_dataset_uncompressed
from atompump.io.runtable import write_shots_table
from atompump.io.shots import iter_run_shots
from atompump.stages.com import com_batch_stage, gather_com_stage, template_stage
from atompump.stages.fit import fit_stage
from atompump.stages.reduce import check_reduce_stage, fringe_basis_stage, reduce_batch_stage
from atompump.stages.theory import theory_stage

log = logging.getLogger(__name__)

__all__ = ["DASHBOARD_VARIABLES", "LiveAnalysis", "LiveState", "run_data_section"]

Config = Mapping[str, Any]


def run_data_section(folder: str | os.PathLike, data: Config) -> dict:
    """The ``data`` config section for a watched run: ``FOLDER/manifest.csv`` when there is one (or FOLDER is a
    manifest), else the labscript shot files ``FOLDER/**/*.h5``.

    Raises
    ------
    InputDataError
        FOLDER does not exist.
    """
    path = Path(folder)
    if path.is_file() and path.suffix.lower() == ".csv":
        return {**data, "source": "measured", "manifest": str(path), "shots": None}
    if not path.is_dir():
        raise InputDataError(f"{path}: no such folder; give the run's folder (with manifest.csv, or where labscript "
                             "writes its .h5 shot files) or its manifest.csv")
    if (path / "manifest.csv").is_file():
        return {**data, "source": "measured", "manifest": str(path / "manifest.csv"), "shots": None}
    return {**data, "source": "measured", "manifest": None, "shots": str(path / "**" / "*.h5")}


@dataclass
class LiveState:
    """What the dashboard shows besides the data products: how far the live analysis is.

    Attributes
    ----------
    n_landed : int
        Shots found in the run (ready or not).
    n_analysed : int
        Shots analysed so far.
    generation : int
        How many times the fringe basis and the template were built (0: not yet).
    basis_shots : int
        Shots of the run when they were last built.
    final : bool
        The final pass has run: the page shows the batch analysis of every shot.
    message : str
        What the analysis is doing or waiting for.
    update_seconds : list of float
        Wall time of each update that analysed shots (for the page's footer and the benchmark; never in a data
        product).
    update_cpu_seconds : list of float
        The same updates' CPU time of this process (the time they take on one core when nothing else runs).
    """

    n_landed: int = 0
    n_analysed: int = 0
    generation: int = 0
    basis_shots: int = 0
    final: bool = False
    message: str = "waiting for the first shots"
    update_seconds: list[float] = field(default_factory=list)
    update_cpu_seconds: list[float] = field(default_factory=list)


def _file_key(path: Path) -> tuple[int, int] | None:
    """Size and modification time (ns) of a file; None when it does not exist."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class LiveAnalysis:
    """The live analysis of one run (see the module docstring).

    Parameters
    ----------
    config : mapping
        A complete config (defaults filled in); ``config['data']`` names the run (``manifest`` or ``shots``:
        :func:`run_data_section`).
    out_dir : path
        Where the live products go: ``com.nc``, ``summary.json``, ``fit.nc`` (the workflow's formats, for the shots
        so far) and ``work/`` (segments, basis, template, theory). ``work/`` is cleared at the start.
    theory_json : path, optional
        An existing ``theory.json``; default: computed once from the config (``theory_stage``).
    settle_s : float
        A shot is analysed once its files have not changed for this long, s (a file being written is not read).
    min_shots : int
        Shots needed before the first analysis (region of interest, basis and template need a few; at least 3).
    rebuild_factor : float
        Rebuild the basis and the template when the run has grown by this factor since the last rebuild (> 1).
    rebuild_every : int
        ... and at least every this many shots.
    refresh_shots : int
        Earlier shots analysed again per update with the newest basis and template after a rebuild (whole earlier
        updates, oldest first, at least one): the earlier shots catch up while the run goes on, at a bounded cost.
    folder : path, optional
        The watched run's folder: ``config['data']`` is derived from it at every look
        (:func:`run_data_section`), so a watcher started before the first shot finds the manifest or the labscript
        files whichever comes.
    """

    def __init__(self, config: Config, out_dir: str | os.PathLike, *, theory_json: str | os.PathLike | None = None,
                 settle_s: float = 1.0, min_shots: int = 5, rebuild_factor: float = 2.0,
                 rebuild_every: int = 50, refresh_shots: int = 4,
                 folder: str | os.PathLike | None = None) -> None:
        if rebuild_factor <= 1.0:
            raise ValueError(f"rebuild_factor must be > 1, got {rebuild_factor}")
        self.config = config
        self.data = dict(config["data"])
        self.folder = folder
        self.out = Path(out_dir)
        self.work = self.out / "work"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.theory_json = Path(theory_json) if theory_json is not None else None
        self.settle_s = float(settle_s)
        self.min_shots = max(3, int(min_shots))
        self.rebuild_factor = float(rebuild_factor)
        self.rebuild_every = max(1, int(rebuild_every))
        self.refresh_shots = max(0, int(refresh_shots))
        self.state = LiveState()
        self.summary: dict | None = None
        self._segments: list[Path] = []  # segment folders: shots.nc, reduced.nc, com.nc
        self._segment_generation: dict[Path, int] = {}  # the basis/template generation each segment was analysed with
        self._segment_records: dict[Path, list[ShotRecord]] = {}
        self._next_segment = 0
        self._analysed: set[str] = set()
        self._com: xr.Dataset | None = None  # every analysed shot's centre-of-mass row (com_batch_stage's output)
        self._roi: list[int] | None = None
        self._manifest_cache: tuple | None = None  # (size, mtime) of the manifest and its records
        self._file_cache: dict[Path, tuple] = {}  # labscript file -> ((size, mtime), record)
        self._failed_at = -1  # shots landed when an update last failed (retried only when more have landed)

    # --- paths -----------------------------------------------------------------------------------------------
    @property
    def com_path(self) -> Path:
        return self.out / "com.nc"

    @property
    def summary_path(self) -> Path:
        return self.out / "summary.json"

    @property
    def fit_path(self) -> Path:
        return self.out / "fit.nc"

    # --- the run's shots ---------------------------------------------------------------------------------------
    def landed(self) -> list[ShotRecord]:
        """Every shot of the run found now, in run order (an empty list before the first one).

        Cheap when nothing changed: the manifest is parsed again only when its size or modification time changed;
        a labscript file's globals are read once (again only when the file changed), so a look at a long run costs
        a glob and a stat per file (:func:`atompump.io.shots.iter_run_shots` on the changed parts).
        """
        if self.folder is not None:
            self.data = run_data_section(self.folder, self.data)
        try:
            if self.data.get("shots"):
                return self._labscript_records(str(self.data["shots"]))
            key = _file_key(Path(str(self.data["manifest"])))
            if key is None or self._manifest_cache is None or self._manifest_cache[0] != key:
                self._manifest_cache = (key, list(iter_run_shots(self.data)))
            return list(self._manifest_cache[1])
        except (InputDataError, FileNotFoundError) as exc:  # no manifest or no shot file yet
            log.debug("no shots yet: %s", exc)
            return []

    def _labscript_records(self, pattern: str) -> list[ShotRecord]:
        paths = find_labscript_shots(pattern)
        if len({p.stem for p in paths}) < len(paths):  # repeated shot ids: the full scan names them
            return list(iter_run_shots(self.data))
        records = []
        for path in paths:
            key = _file_key(path)
            cached = self._file_cache.get(path)
            if cached is None or cached[0] != key:
                one = {**self.data, "shots": glob.escape(str(path))}
                cached = self._file_cache[path] = (key, next(iter(iter_run_shots(one))))
            records.append(cached[1])
        return records

    def _ready(self, record: ShotRecord, now: float) -> bool:
        """Whether a shot's files all exist and have not changed for ``settle_s`` (else it is still being written,
        or its manifest row came before its frames)."""
        for path in record.frames.values():
            try:
                if now - Path(path).stat().st_mtime < self.settle_s:
                    return False
            except OSError:
                return False
        return True

    def pending(self, records: list[ShotRecord] | None = None, *, force: bool = False) -> list[ShotRecord]:
        """The shots that have landed and are ready but not analysed yet (all of them with ``force``)."""
        records = self.landed() if records is None else records
        now = time.time()
        return [r for r in records if r.shot not in self._analysed and (force or self._ready(r, now))]

    # --- one update -------------------------------------------------------------------------------------------
    def update(self, *, force: bool = False) -> bool:
        """Analyse the shots that landed since the last update and refit; True when anything was analysed.

        ``force`` takes every landed shot, ready or not (a file that cannot be read becomes a rejected shot).
        """
        records = self.landed()
        self.state.n_landed = len(records)
        new = self.pending(records, force=force)
        if not new:
            return False
        start, cpu = time.perf_counter(), time.process_time()
        ready_ids = self._analysed | {r.shot for r in new}
        run = [r for r in records if r.shot in ready_ids]  # the analysed run after this update, in run order
        if self.state.generation == 0 and len(run) < self.min_shots and not force:
            self.state.message = (f"waiting for {self.min_shots} shots before the first analysis "
                                  f"({len(run)} landed)")
            return False
        n = len(run)
        due = (self.state.generation == 0 or n >= self.rebuild_factor * self.state.basis_shots
               or n >= self.state.basis_shots + self.rebuild_every)
        if self._failed_at == len(records) and not force:
            return False  # the same shots failed before: wait for more
        before = (len(self._segments), self.state.generation, self.state.basis_shots, self._com)
        try:
            if due:
                self._build(run, roi=self._roi)
            # the earlier shots catch up with the newest basis and template: the oldest stale segments' shots go
            # into this update's segment (one reduction and one estimator pass for both; the segments merge)
            stale = self._stale_segments()
            segment = self._new_segment(new + [r for s in stale for r in self._segment_records[s]])
            self._reduce(segment)
            if due:
                template_stage([s / "reduced.nc" for s in self._segments if s not in stale],
                               self.work / "fringe_basis.nc", self.work / "template.nc", com=self.config["com"])
            self._locate(segment)
            self._refit(run, n_bootstrap=0)
        except AtompumpError as exc:  # a run-level problem (e.g. no cloud in the mean OD yet): wait for more shots
            for folder in self._segments[before[0]:]:
                shutil.rmtree(folder, ignore_errors=True)
            del self._segments[before[0]:]
            _, self.state.generation, self.state.basis_shots, self._com = before
            self._failed_at = len(records)
            self.state.message = (f"cannot analyse the {n} shots so far: {str(exc).splitlines()[0]} -- waiting for "
                                  "more shots")
            log.warning("%s", self.state.message)
            return False
        for old in stale:
            self._segments.remove(old)
            del self._segment_generation[old], self._segment_records[old]
            shutil.rmtree(old, ignore_errors=True)
        self._analysed |= {r.shot for r in new}
        self.state.n_analysed = len(self._analysed)
        n_stale = sum(1 for s in self._segments if self._segment_generation[s] < self.state.generation)
        self.state.message = (f"live: {n} shots analysed; fringe basis and template from {self.state.basis_shots} "
                              f"shots (built {self.state.generation} times)"
                              + (f"; {n_stale} earlier updates still to be redone with them" if n_stale else ""))
        self.state.update_seconds.append(time.perf_counter() - start)
        self.state.update_cpu_seconds.append(time.process_time() - cpu)
        return True

    def finish(self) -> bool:
        """The final pass: every landed shot analysed again as the batch workflow does; True when it ran."""
        records = self.landed()
        self.state.n_landed = len(records)
        if not records or (self.state.final and not self.pending(records, force=True)):
            return False
        start, cpu = time.perf_counter(), time.process_time()
        for segment in self._segments:
            shutil.rmtree(segment, ignore_errors=True)
        self._segments, self._com = [], None
        self._build(records, roi=None)
        segment = self._new_segment(records)
        self._reduce(segment)
        check_reduce_stage([segment / "reduced.nc"], self.work / "input_check.json", on_bad_shot="reject")
        template_stage([segment / "reduced.nc"], self.work / "fringe_basis.nc", self.work / "template.nc",
                       com=self.config["com"])
        self._locate(segment)
        self._analysed = {r.shot for r in records}
        self._refit(records, n_bootstrap=None)
        self.state.n_analysed = len(records)
        self.state.final = True
        self.state.message = (f"final: all {len(records)} shots analysed again as the batch workflow does (region, "
                              "fringe basis and template from the whole run)")
        self.state.update_seconds.append(time.perf_counter() - start)
        self.state.update_cpu_seconds.append(time.process_time() - cpu)
        return True

    # --- steps ------------------------------------------------------------------------------------------------
    def _build(self, run: list[ShotRecord], *, roi: list[int] | None) -> None:
        """The run table of ``run``, its region of interest and fringe basis (``fringe_basis_stage``)."""
        table = self.work / "shots.nc"
        write_shots_table(run, table, batch_size=max(len(run), 1))
        imaging = dict(self.config["imaging"])
        if roi is not None:
            imaging["roi"] = roi
        ds = fringe_basis_stage(table, self.work / "fringe_basis.nc", imaging=imaging)
        self._roi = [int(v) for v in ds.attrs["roi"]]
        self.state.generation += 1
        self.state.basis_shots = len(run)
        log.info("live: region of interest %s and fringe basis from %d shots", self._roi, len(run))

    def _stale_segments(self) -> list[Path]:
        """The oldest segments analysed with an earlier basis and template, up to ``refresh_shots`` shots (at least
        one segment when any is stale and ``refresh_shots`` > 0)."""
        out, total = [], 0
        for segment in self._segments:
            if self._segment_generation[segment] >= self.state.generation:
                continue
            size = len(self._segment_records[segment])
            if out and total + size > self.refresh_shots or self.refresh_shots == 0:
                break
            out.append(segment)
            total += size
        return out

    def _new_segment(self, records: list[ShotRecord]) -> Path:
        """A folder with the run table of ``records`` (``shots.nc``), added to the run's segments."""
        folder = self.work / f"segment-{self._next_segment:05d}"
        self._next_segment += 1
        folder.mkdir(parents=True, exist_ok=True)
        write_shots_table(records, folder / "shots.nc", batch_size=len(records))
        self._segments.append(folder)
        self._segment_records[folder] = list(records)
        return folder

    def _reduce(self, segment: Path) -> None:
        reduce_batch_stage(segment / "shots.nc", self.work / "fringe_basis.nc", segment / "reduced.nc", batch=0,
                           imaging=self.config["imaging"])

    def _locate(self, segment: Path) -> None:
        """The estimators of a segment's shots (``com_batch_stage``), replacing their earlier rows."""
        part = com_batch_stage(segment / "reduced.nc", segment / "com.nc", imaging=self.config["imaging"],
                               com=self.config["com"], atom=self.config["atom"],
                               basis_path=self.work / "fringe_basis.nc", template_path=self.work / "template.nc")
        self._segment_generation[segment] = self.state.generation
        if self._com is not None:
            mine = {str(s) for s in part.shot.values}
            keep = [i for i, s in enumerate(self._com.shot.values) if str(s) not in mine]
            part = xr.concat([self._com.isel(shot=keep), part], dim="shot", combine_attrs="override",
                             data_vars="all")
        self._com = part

    def _refit(self, run: list[ShotRecord], *, n_bootstrap: int | None) -> None:
        """Gather the analysed shots in run order (``gather_com_stage``) and fit them (``fit_stage``)."""
        position = {r.shot: i for i, r in enumerate(run)}
        shots = [str(s) for s in self._com.shot.values]
        self._com = self._com.isel(shot=np.argsort([position[s] for s in shots], kind="stable"))
        write_dataset_uncompressed(self._com, self.work / "com_all.nc")
        gather_com_stage([self.work / "com_all.nc"], self.com_path, com=self.config["com"])
        fit = config_section("fit", self.config.get("fit"))
        if n_bootstrap is not None:
            fit["n_bootstrap"] = n_bootstrap
        theory = self._theory()
        self.summary = fit_stage(self.com_path, theory, self.summary_path, self.fit_path, fit=fit,
                                 on_bad_shot="reject")

    def _theory(self) -> Path:
        if self.theory_json is None:
            self.theory_json = self.work / "theory.json"
            theory_stage(self.theory_json, self.work / "bands.nc", self.work / "wannier.nc",
                         lattice=self.config["lattice"], theory=self.config["theory"], atom=self.config["atom"],
                         pump=self.config["pump"])
        return self.theory_json

    # --- what the dashboard reads ------------------------------------------------------------------------------
    def products(self) -> tuple[xr.Dataset | None, dict | None, xr.Dataset | None]:
        """What the dashboard shows of ``com.nc``, ``summary.json`` and ``fit.nc`` of the shots so far (None before
        the first analysis): the per-shot variables of :data:`DASHBOARD_VARIABLES` and the attributes (read with
        h5py alone: opening the whole Datasets would cost more than the update itself)."""
        if self.summary is None or not self.com_path.exists():
            return None, None, None
        with h5py.File(self.com_path, "r") as f:
            names = [name for name in DASHBOARD_VARIABLES if name in f]
        values, attrs = read_variables(self.com_path, names)
        shot = values.pop("shot")
        com = xr.Dataset({k: ("shot", v) for k, v in values.items()}, coords={"shot": ("shot", shot)}, attrs=attrs)
        model = read_variables(self.fit_path, ["x_model_um"])[0]["x_model_um"]
        fit = xr.Dataset({"x_model_um": ("shot", model)}, coords={"shot": ("shot", shot)})
        return com, json.loads(self.summary_path.read_text()), fit


DASHBOARD_VARIABLES = ("shot", "x_com_um", "x_com_err_um", "cycle", "direction", "reference", "order",
                       "atom_number", "width_um", "used", "reject_reason")
"""The variables of ``com.nc`` the dashboard reads (:meth:`LiveAnalysis.products`)."""
