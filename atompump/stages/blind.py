"""Blind analysis (issue 14, item 5): the secret behind the hidden offset, and unblinding a finished run.

The secret is a file of 64 hex digits from ``os.urandom`` (created on first use, mode 0600) outside ``results/``:
``fit.blind_secret``, else ``blind-secret`` in the user's config folder (``$XDG_CONFIG_HOME/atompump``, else
``~/.config/atompump``). The offset it gives (:func:`atompump.fit.blind.blind_offset`) is never written anywhere:
neither the secret, nor the offset, nor the true nu appear in ``results/``, the logs or the provenance; a blinded
``summary.json`` carries ``blinded: true`` and a fingerprint of the secret (:func:`atompump.fit.blind.secret_check`).

``atompump unblind RESULTS_DIR`` (:func:`unblind_stage`) checks the secret against that fingerprint, then runs the
stages after the centres of mass again with ``fit.blind: false`` -- fit, recovery (a run with a truth), figures,
report -- in the run's folder with the config recorded in ``provenance.json`` (whose ``fit.blind`` it sets to false):
the outputs are then byte for byte those of a run without blinding. ``com.nc`` (the measured centres) is not
blinded and not touched: a deliberate refit of it reveals nu; blinding guards against seeing the result while the
analysis is being decided, not against a determined analyst.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atompump.errors import ConfigError, InputDataError

__all__ = ["blinding", "default_secret_path", "read_secret", "rerun_after_com", "secret_path", "unblind_stage"]

log = logging.getLogger(__name__)

Config = Mapping[str, Any]


def default_secret_path() -> Path:
    """``$XDG_CONFIG_HOME/atompump/blind-secret``, else ``~/.config/atompump/blind-secret``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "atompump" / "blind-secret"


def secret_path(fit: Config) -> Path:
    """The secret file of the ``fit`` config section: ``fit.blind_secret`` or :func:`default_secret_path`."""
    name = fit.get("blind_secret")
    return Path(os.path.expanduser(str(name))) if name else default_secret_path()


def read_secret(path: str | os.PathLike, *, create: bool = False,
                results_dir: str | os.PathLike = "results") -> bytes:
    """The blinding secret in ``path``; with ``create``, a new one from ``os.urandom`` when the file does not exist.

    ``results_dir`` is the run's results folder (default ``results`` of the working directory, the workflow's
    ``-d``): the secret must not be inside it.

    Raises
    ------
    ConfigError
        The path is inside ``results_dir``, the file is missing (and ``create`` is false) or empty.
    """
    path = Path(path)
    if Path(results_dir).resolve() in path.resolve().parents:
        raise ConfigError(f"config key 'fit.blind_secret': {path} is inside the run's results folder; keep the "
                          "blinding secret outside results/ (e.g. the default, ~/.config/atompump/blind-secret)")
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another job created it meanwhile: use that one
            pass
        else:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(os.urandom(32).hex() + "\n")
            log.info("created a new blinding secret in %s", path)
    if not path.is_file():
        raise ConfigError(f"no blinding secret at {path} (config key 'fit.blind_secret'): the run was blinded with "
                          "a secret kept elsewhere; give its file with --secret")
    secret = path.read_bytes().strip()
    if not secret:
        raise ConfigError(f"the blinding secret {path} is empty; delete it (a new one is made on the next blinded "
                          "run) or restore it from your backup")
    return secret


def blinding(fit: Config) -> tuple[float, str] | None:
    """``(offset, fingerprint)`` of a blind analysis (``fit.blind: true``), None otherwise; creates the secret on
    first use."""
    from atompump.fit.blind import blind_offset, secret_check

    if not fit["blind"]:
        return None
    secret = read_secret(secret_path(fit), create=True)
    return blind_offset(secret), secret_check(secret)


def rerun_after_com(config: Config) -> dict:
    """Run the stages after the centres of mass again in the current directory (a workflow's ``-d`` folder):
    fit, recovery (when ``results/simulated`` or ``results/injected`` has a ``truth.json``), figures and report,
    with the inputs and parameters the workflow's rules give them. Returns the new summary."""
    from atompump.stages.fit import fit_stage
    from atompump.stages.recovery import recovery_stage
    from atompump.stages.report import figures_stage, report_stage

    summary = fit_stage("results/com/com.nc", "results/theory/theory.json", "results/fit/summary.json",
                        "results/fit/fit.nc", fit=config["fit"], on_bad_shot=config["data"]["on_bad_shot"],
                        prediction_json="results/theory/prediction.json")
    truth = next((p for p in ("results/simulated/truth.json", "results/injected/truth.json") if Path(p).is_file()),
                 None)
    if truth is not None:
        recovery_stage("results/com/com.nc", "results/fit/summary.json", truth, "results/fit/recovery.json",
                       figure_paths=("results/figures/recovery_pulls.png", "results/figures/recovery_pulls.pdf"))
    if not Path("results/reduce/example.nc").is_file():
        raise InputDataError(f"no example shot in {Path('results/reduce').resolve()}: the run is incomplete; run "
                             "the workflow to its end first")
    trend_globals = tuple(config["report"]["trend_globals"] or ())
    title = config["report"]["title"]
    figures_stage(com_path="results/com/com.nc", summary_path="results/fit/summary.json",
                  fit_path="results/fit/fit.nc", bands_path="results/theory/bands.nc",
                  wannier_path="results/theory/wannier.nc", example_path="results/reduce/example.nc",
                  out_dir="results/figures", pdf_path="results/report/report.pdf",
                  provenance_path="results/report/provenance.json", title=title, trend_globals=trend_globals,
                  before_fit_drawn=True)  # as the workflow's rule figures: those files do not depend on the fit
    report_stage("results/report/report.html", summary_path="results/fit/summary.json",
                 com_path="results/com/com.nc", figures_dir="results/figures",
                 provenance_path="results/report/provenance.json", truth_path=truth,
                 theory_path="results/theory/theory.json", title=title,
                 recovery_path="results/fit/recovery.json" if truth else None,
                 recovery_figure="results/figures/recovery_pulls.png" if truth else None,
                 fit_path="results/fit/fit.nc",
                 scan_figure=("results/figures/superlattice_scan.png" if config["report"]["superlattice_scan"]
                              else None),
                 trend_globals=trend_globals)
    return summary


def unblind_stage(results_dir: str | os.PathLike, *, secret: str | os.PathLike | None = None) -> dict:
    """Unblind a finished blinded run (``atompump unblind RESULTS_DIR``): see the module docstring.

    Parameters
    ----------
    results_dir : path
        The run's ``results`` folder (its parent is the workflow's ``-d`` folder).
    secret : path, optional
        The secret file; default the one of the run's config (``fit.blind_secret``, else the user's default).

    Returns
    -------
    dict
        ``nu``, ``nu_err``, ``deviation_sigma``, the files rewritten and the secret used.

    Raises
    ------
    InputDataError
        ``results_dir`` is not a finished run, or it is not blinded.
    ConfigError
        The secret is missing, or it is not the one that blinded the run.
    """
    import yaml

    from atompump.fit.blind import secret_check
    from atompump.io.atomic import write_json

    results = Path(results_dir).resolve()
    summary_path, provenance_path = results / "fit" / "summary.json", results / "report" / "provenance.json"
    for path in (summary_path, provenance_path):
        if not path.is_file():
            raise InputDataError(f"{path} does not exist: {results} is not the results folder of a finished run")
    summary = json.loads(summary_path.read_text())
    if not summary.get("blinded"):
        raise InputDataError(f"{summary_path}: the run is not blinded (fit.blind was false): nothing to unblind")
    provenance = json.loads(provenance_path.read_text())
    config = yaml.safe_load(provenance["config"])
    # the config's path is relative to the run's folder (the workflow's -d), --secret to the working directory
    path = Path(secret) if secret is not None else results.parent / secret_path(config["fit"])
    if secret_check(read_secret(path, results_dir=results)) != summary.get("blind_check"):
        raise ConfigError(f"the secret in {path} is not the one that blinded {summary_path}; give the right file "
                          "with --secret")
    config["fit"]["blind"] = False
    provenance["config"] = yaml.safe_dump(json.loads(json.dumps(config, default=str)), sort_keys=True)
    with contextlib.chdir(results.parent):
        write_json("results/report/provenance.json", provenance)
        new = rerun_after_com(config)
    return {"unblinded": str(results), "nu": new["nu"], "nu_err": new["nu_err"],
            "deviation_sigma": new.get("deviation_sigma"), "secret": str(path),
            "rewritten": ["fit/summary.json", "fit/fit.nc", "fit/recovery.json (a run with a truth)", "figures/",
                          "report/report.html", "report/report.pdf", "report/provenance.json (fit.blind: false)"],
            "note": "set fit.blind: false in your config to keep it unblinded; a later run blinded with the same "
                    "secret has the same offset, which this run now reveals: use a new secret for new blind runs"}
