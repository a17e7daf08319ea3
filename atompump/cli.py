"""The ``atompump`` command line.

``atompump theory MODEL [--PARAM VALUE ...] [--json]``
    Chern numbers, gaps and model-specific predictions; MODEL is superlattice, rice-mele, aubry-andre,
    hofstadter or quantum-dot (``atompump theory MODEL --help`` lists the parameters).
``atompump config-reference [--update config/README.md]``
    The table of every config key, generated from the schema.
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
    return parser


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
        result = args.handler(args)
    except (AtompumpError, ValueError) as exc:
        parser.exit(2, f"atompump: error: {str(exc).splitlines()[0]}\n")
    text = json.dumps(result, indent=2, sort_keys=True) if getattr(args, "json", False) else format_table(result)
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`atompump theory ... | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
