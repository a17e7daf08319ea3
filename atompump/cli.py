"""The ``atompump`` command line.

``atompump theory MODEL [--PARAM VALUE ...] [--json]``
    Chern numbers, gaps and model-specific predictions; MODEL is superlattice, rice-mele, aubry-andre,
    hofstadter or quantum-dot (``atompump theory MODEL --help`` lists the parameters); interacting pumps by exact
    diagonalisation: hubbard-pump, fractional-pump, hofstadter-bosons, coulomb-dot, disorder-scan.
``atompump config-reference [--update config/README.md]``
    The table of every config key, generated from the schema.
``atompump inject OUT --config my.yaml [--manifest run1/manifest.csv] [--seed N] [--nu NU] [--json]``
    Inject a known cloud into the frames of your own run (config sections ``data``, ``injection``, ``imaging``,
    ``lattice``, as for ``data.source: injected``) and write a run with a truth to OUT (manifest.csv, frames/,
    truth.json); prints the camera noise used and the run's shots.
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
from atompump.errors import AtompumpError
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``atompump`` console script; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
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
    try:
        result = _inject(args) if args.command == "inject" else args.handler(args)
    except (AtompumpError, ValueError) as exc:
        message = str(exc) if args.command == "inject" else str(exc).splitlines()[0]  # inject: every problem
        parser.exit(2, f"atompump: error: {message}\n")
    if args.command == "inject":
        from atompump.io.atomic import to_jsonable

        text = (json.dumps(to_jsonable(result), indent=2, sort_keys=True) if args.json
                else "\n".join(f"{key}: {value}" for key, value in result.items()))
    else:
        text = json.dumps(result, indent=2, sort_keys=True) if getattr(args, "json", False) else format_table(result)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`atompump theory ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
