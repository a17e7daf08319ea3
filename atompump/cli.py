"""The ``atompump`` command line.

``atompump theory MODEL [--PARAM VALUE ...] [--json]``
    Chern numbers, gaps and model-specific predictions; MODEL is superlattice, rice-mele, aubry-andre,
    hofstadter or quantum-dot (``atompump theory MODEL --help`` lists the parameters); superlattice-scan gives the
    superlattice's band Chern numbers over a grid of (Vs, Vl) with band 2's exact transition (``--figure PATH``);
    interacting pumps by exact diagonalisation: hubbard-pump, fractional-pump, hofstadter-bosons, coulomb-dot,
    disorder-scan.
``atompump config-reference [--update config/README.md]``
    The table of every config key, generated from the schema.
``atompump inject OUT --config my.yaml [--manifest run1/manifest.csv] [--seed N] [--nu NU] [--json]``
    Inject a known cloud into the frames of your own run (config sections ``data``, ``injection``, ``imaging``,
    ``lattice``, as for ``data.source: injected``) and write a run with a truth to OUT (manifest.csv, frames/,
    truth.json); prints the camera noise used and the run's shots.
``atompump unblind RESULTS_DIR [--secret FILE] [--json]``
    Reveal a blinded run's nu (``fit.blind: true``): checks the secret, then runs fit, recovery, figures and report
    again without the hidden offset (README, "In the lab").
``atompump plan --target NU_ERR [--pilot RESULTS_DIR_OR_COM_NC | --config my.yaml] [--json]``
    How many shots and cycles for an error NU_ERR on nu, per measurement design, from a pilot run's scatter or from
    the simulator's camera and the Cramer-Rao bound.
``atompump watch FOLDER --configfile my.yaml [--out live] [--once] [--idle-timeout S]``
    Live analysis while a run is taken: each shot of FOLDER (its manifest.csv growing row by row, or labscript .h5
    files appearing) analysed as it lands, the fit redone, and OUT/dashboard.html kept up to date (a static page
    that the browser reloads by itself). Stops after ``--once`` or ``--idle-timeout`` with a final pass that gives
    the batch workflow's numbers; Ctrl-C stops at once with the page intact.
``atompump export-lyse RESULTS_DIR [--wait S]``
    Write a finished run's per-shot results into ``/results/atompump`` of its labscript shot files, for lyse
    (:mod:`atompump.lyse.export`: refuses while Snakemake runs there; never writes a shot file in place).
``atompump version``
    The installed version.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from atompump import __version__
from atompump.errors import AtompumpError, ParameterError
from atompump.theory.commands import add_theory_parser, format_table

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (sub-parsers inherit the class)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="atompump", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    ref = sub.add_parser("config-reference", help="print (or --update) the config key tables of config/README.md")
    ref.add_argument("--schema", default="workflow/schemas/config.schema.yaml", help="the config schema")
    ref.add_argument("--update", metavar="README", help="rewrite the generated tables of this file in place")
    add_theory_parser(sub)
    _add_inject_parser(sub)
    _add_lab_parsers(sub)
    _add_watch_parser(sub)
    _add_export_lyse_parser(sub)
    return parser


_SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "workflow", "schemas",
                       "config.schema.yaml")


def _add_inject_parser(sub) -> None:
    inject = sub.add_parser("inject", help="inject a known cloud into the frames of your own run (a run with a "
                                           "truth, to calibrate the analysis on your camera)")
    inject.add_argument("out", help="folder of the new run (manifest.csv, frames/, truth.json)")
    inject.add_argument("--config", action="append", default=[], metavar="YAML",
                        help="config file(s) as for the workflow (data, injection, imaging, lattice, atom); later "
                             "files win; missing keys take the schema's defaults")
    inject.add_argument("--manifest", help="the lab's run: its manifest.csv (replaces data.manifest)")
    inject.add_argument("--shots", help="the lab's run: a glob of labscript HDF5 shot files (replaces data.shots)")
    inject.add_argument("--seed", type=int, help="injection.seed")
    inject.add_argument("--nu", type=float, help="injection.nu (displacement per cycle in dl)")
    inject.add_argument("--schema", default=_SCHEMA, help="the config schema (default: this checkout's)")
    inject.add_argument("--json", action="store_true", help="print the whole truth.json instead of a summary")


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _inject(args) -> dict:
    """``atompump inject``: the config (files, then options) validated and filled, then the workflow's stage."""
    import yaml

    from atompump.config import check_config, fill_defaults, load_schema
    from atompump.stages.inject import inject_stage

    config: dict = {}
    for path in args.config:
        with open(path, encoding="utf-8") as fh:
            config = _merge(config, yaml.safe_load(fh) or {})
    data = dict(config.get("data") or {})
    data["source"] = "injected"
    if args.manifest or args.shots:
        data.update(manifest=args.manifest, shots=args.shots)
    config["data"] = data
    injection = dict(config.get("injection") or {})
    injection.update({k: v for k, v in (("seed", args.seed), ("nu", args.nu)) if v is not None})
    config["injection"] = injection
    schema = load_schema(args.schema)
    check_config(config, schema)
    config = fill_defaults(config, schema)
    truth = inject_stage(args.out, data=config["data"], injection=config["injection"], imaging=config["imaging"],
                         lattice=config["lattice"], atom=config["atom"])
    if args.json:
        return truth
    camera, source = truth["injection"]["camera"], truth["injection"]["source"]
    return {"run": os.path.join(args.out, "manifest.csv"), "truth": os.path.join(args.out, "truth.json"),
            "shots": len(truth["shots"]), "nu_true": truth["nu_true"], "cloud": truth["injection"]["cloud"]["shape"],
            "source": f"{source['run']} ({source['usable']} of {source['shots']} shots usable)",
            "frames": truth["injection"]["frames"],
            "camera_gain": f"{camera['gain']:.4g} counts per photoelectron ({camera['method']})",
            "read_noise": f"{camera['read_noise_counts']:.4g} counts",
            "max_uses_of_an_atoms_source": truth["injection"]["max_uses_of_an_atoms_source"]}


# --- in the lab: blind analysis and run planning (issue 14, items 5 and 6) -----------------------------------------

def _add_lab_parsers(sub) -> None:
    unblind = sub.add_parser("unblind", help="reveal the true nu of a blinded run (fit.blind: true)")
    unblind.add_argument("results", help="the run's results folder (e.g. results)")
    unblind.add_argument("--secret", help="the blinding secret's file (default: the run's fit.blind_secret, else "
                                          "~/.config/atompump/blind-secret)")
    unblind.add_argument("--json", action="store_true", help="print JSON")
    unblind.set_defaults(handler=_unblind, formatter=_key_values)
    from atompump.plan import add_plan_parser

    add_plan_parser(sub, config_loader=_load_config)


def _key_values(result: dict) -> str:
    return "\n".join(f"{key}: {value}" for key, value in result.items())


def _unblind(args) -> dict:
    from atompump.stages.blind import unblind_stage

    return unblind_stage(args.results, secret=args.secret)


def _load_config(paths: Sequence[str], schema: str = _SCHEMA) -> dict:
    """Config files merged (later files win), validated and filled with the schema's defaults."""
    import yaml

    from atompump.config import check_config, fill_defaults, load_schema

    config: dict = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            config = _merge(config, yaml.safe_load(fh) or {})
    schema_doc = load_schema(schema)
    check_config(config, schema_doc)
    return fill_defaults(config, schema_doc)


# --- atompump watch (issue 14, item 3: live analysis) -------------------------------------------------------------

def _add_watch_parser(sub) -> None:
    watch = sub.add_parser("watch", help="analyse a run while it is taken and keep a live HTML dashboard")
    watch.add_argument("folder", help="the run: a folder with manifest.csv (rows added as shots land), a manifest "
                                      "file, or a folder where labscript writes .h5 shot files")
    watch.add_argument("--configfile", "--config", dest="config", action="append", default=[], metavar="YAML",
                       help="config file(s) as for snakemake (imaging, com, fit, lattice, ...); later files win")
    watch.add_argument("--out", default="live", help="folder of the dashboard (OUT/dashboard.html) and the live "
                                                     "com.nc, summary.json, fit.nc (default: ./live)")
    watch.add_argument("--once", action="store_true", help="analyse the shots there now, then stop")
    watch.add_argument("--idle-timeout", type=float, metavar="S",
                       help="stop after S seconds without a new shot (default: run until Ctrl-C)")
    watch.add_argument("--no-final", action="store_true",
                       help="stop without the final pass (which analyses every shot as snakemake does)")
    watch.add_argument("--poll", type=float, default=1.0, metavar="S", help="seconds between looks (default 1)")
    watch.add_argument("--settle", type=float, default=1.0, metavar="S",
                       help="a shot is read once its files are S seconds old (default 1)")
    watch.add_argument("--refresh", type=float, default=5.0, metavar="S",
                       help="the page reloads itself every S seconds (default 5)")
    watch.add_argument("--min-shots", type=int, default=5, metavar="N",
                       help="shots before the first analysis (region, fringe basis, template; default 5)")
    watch.add_argument("--rebuild-every", type=int, default=50, metavar="N",
                       help="rebuild the fringe basis and template at least every N shots (and whenever the run "
                            "has doubled; default 50)")
    watch.add_argument("--theory", metavar="JSON", help="an existing theory.json (default: computed once)")
    watch.add_argument("--schema", default=_SCHEMA, help="the config schema (default: this checkout's)")


def _watch_config(args) -> dict:
    import yaml

    from atompump.config import check_config, fill_defaults, load_schema
    from atompump.live import run_data_section

    config: dict = {}
    for path in args.config:
        with open(path, encoding="utf-8") as fh:
            config = _merge(config, yaml.safe_load(fh) or {})
    schema = load_schema(args.schema)
    data = run_data_section(args.folder, dict(config.get("data") or {}))
    config["data"] = data
    check_config(config, schema)
    return fill_defaults(config, schema)


def _watch(args, parser) -> int:
    """``atompump watch``: progress lines on stderr, the final numbers on stdout."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    quiet = ("atompump.stages", "atompump.io", "atompump.com", "atompump.reduce")
    levels = {name: logging.getLogger(name).level for name in quiet}
    for name in quiet:
        logging.getLogger(name).setLevel(logging.ERROR)  # the page lists bad shots; the stages' lines are noise here
    try:
        return _watch_run(args, parser)
    finally:  # an in-process caller (a notebook, a test) gets its loggers back
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _watch_run(args, parser) -> int:
    from atompump.live import watch_run

    try:
        config = _watch_config(args)
        live = watch_run(config, args.out, folder=args.folder, once=args.once, idle_timeout_s=args.idle_timeout, poll_s=args.poll,
                         refresh_s=args.refresh, final_pass=not args.no_final, theory_json=args.theory,
                         settle_s=args.settle, min_shots=args.min_shots, rebuild_every=args.rebuild_every)
    except (AtompumpError, ValueError) as exc:
        parser.exit(2, f"atompump: error: {str(exc).splitlines()[0]}\n")
    summary = live.summary or {}
    page = os.path.join(args.out, "dashboard.html")
    if summary.get("fit_possible"):
        print(f"nu = {summary['nu']:.4f} +- {summary['nu_err']:.4f} from {summary['n_used']} of "
              f"{summary['n_shots']} shots ({'final pass' if live.state.final else 'live'}); dashboard: {page}")
    else:
        print(f"no fit: {summary.get('fit_message') or live.state.message}; dashboard: {page}")
    return 0


# --- atompump export-lyse (issue 14) ---------------------------------------------------------------------------

def _add_export_lyse_parser(sub) -> None:
    export = sub.add_parser("export-lyse", help="write a finished run's per-shot results into /results/atompump of "
                                                "its labscript shot files (for lyse)")
    export.add_argument("results_dir", metavar="RESULTS_DIR", help="the run's results folder (<workdir>/results)")
    export.add_argument("--wait", type=float, default=30.0, metavar="S",
                        help="seconds to wait for a shot file that another program holds open for writing")


def _export_lyse(args, parser) -> int:
    from atompump.lyse.export import export_results

    try:
        result = export_results(args.results_dir, wait_s=args.wait)
    except AtompumpError as exc:
        parser.exit(2, f"atompump: error: {exc}\n")
    print(f"shot files: {result['files']} ({result['written']} written, {result['up_to_date']} already up to date)")
    for shot, reason in result["failed"].items():
        print(f"not exported: shot {shot}: {reason}")
    return 1 if result["failed"] else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``atompump`` console script; returns the exit status.

    A full disk, a read-only file system or a folder the user may not write in ends the command with one line
    saying so (:func:`atompump._logging.storage_error_message`) and status 1, not a traceback: every file the
    commands write is written atomically, so nothing half-written is left.
    """
    from atompump._logging import storage_errno, storage_error_message

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return _run(args, parser)
    except (OSError, RuntimeError) as exc:
        if storage_errno(exc) is None:
            raise
        print(f"atompump: error: {storage_error_message(exc)}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.command == "version":
        print(__version__)
        return 0
    if args.command == "config-reference":
        from atompump.config import load_schema, schema_reference_markdown, update_reference

        schema = load_schema(args.schema)
        if args.update:
            changed = update_reference(args.update, schema)
            print(f"{args.update}: {'updated' if changed else 'already up to date'}")
        else:
            print(schema_reference_markdown(schema), end="")
        return 0
    if args.command == "watch":
        return _watch(args, parser)
    if args.command == "export-lyse":
        return _export_lyse(args, parser)
    try:
        result = _inject(args) if args.command == "inject" else args.handler(args)
    except (AtompumpError, ValueError) as exc:
        if isinstance(exc, ParameterError) and args.command == "theory":  # the library's parameters are options
            exc = ValueError(exc.render({p: "--" + p.replace("_", "-") for p in exc.parameters}))
        message = str(exc) if args.command == "inject" else str(exc).splitlines()[0]  # inject: every problem
        parser.exit(2, f"atompump: error: {message}\n")
    if args.command == "inject":
        from atompump.io.atomic import to_jsonable

        text = (json.dumps(to_jsonable(result), indent=2, sort_keys=True) if args.json
                else "\n".join(f"{key}: {value}" for key, value in result.items()))
    else:
        formatter = getattr(args, "formatter", format_table)
        text = json.dumps(result, indent=2, sort_keys=True) if getattr(args, "json", False) else formatter(result)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`atompump theory ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
