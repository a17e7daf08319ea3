"""The ``atompump`` command line.

``atompump theory superlattice [--Vs ..] [--Vl ..] [--lambda-l-nm ..] [--json]``
    Chern numbers, gaps and the predicted displacement per cycle of a superlattice.
``atompump config-reference [--update config/README.md]``
    The table of every config key, generated from the schema.
``atompump version``
    The installed version.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from atompump import __version__
from atompump.errors import AtompumpError

__all__ = ["main"]


def _theory_superlattice(args: argparse.Namespace) -> dict:
    from atompump.constants import SPECIES
    from atompump.theory import SuperlatticeParams, superlattice_topology
    from atompump.theory.topology import expected_displacement

    params = SuperlatticeParams(Vs_Er=args.Vs, Vl_Er=args.Vl, lambda_l_nm=args.lambda_l_nm,
                                mass_amu=SPECIES[args.atom].mass_amu)
    bands = superlattice_topology(params, n_bands=args.n_bands)
    chern = bands.chern_number.values
    return {
        "model": "superlattice",
        "parameters": {"Vs_Er": args.Vs, "Vl_Er": args.Vl, "lambda_l_nm": args.lambda_l_nm, "atom": args.atom},
        "chern_numbers": [int(c) for c in chern],
        "min_gaps": [float(g) for g in bands.min_gap_above.values],
        "energy_unit": "Er,s",
        "recoil_s_hz": float(bands.attrs["recoil_s_hz"]),
        "dl_um": params.dl_um,
        "displacement_per_cycle_dl": expected_displacement(chern, [1.0]),
    }


def _print_table(result: dict) -> None:
    print(f"model: {result['model']}  ({', '.join(f'{k}={v}' for k, v in result['parameters'].items())})")
    print(f"{'band':>4}  {'Chern':>5}  {'min gap above (' + result['energy_unit'] + ')':>24}")
    for n, (c, g) in enumerate(zip(result["chern_numbers"], result["min_gaps"]), start=1):
        print(f"{n:>4}  {c:>+5d}  {g:>24.4f}")
    print(f"displacement per cycle of the lowest band: {result['displacement_per_cycle_dl']:+.3f} dl "
          f"(dl = {result['dl_um']:.4f} um)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atompump", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("version", help="print the version")
    ref = sub.add_parser("config-reference", help="print (or --update) the config key tables of config/README.md")
    ref.add_argument("--schema", default="workflow/schemas/config.schema.yaml", help="the config schema")
    ref.add_argument("--update", metavar="README", help="rewrite the generated tables of this file in place")
    theory = sub.add_parser("theory", help="band topology of a pump model")
    models = theory.add_subparsers(dest="model", required=True)
    sl = models.add_parser("superlattice", help="optical superlattice Vs cos^2(pi x/ds) + Vl sin^2(pi x/dl - phi/2)")
    sl.add_argument("--Vs", type=float, default=10.0, help="short-lattice depth in Er,s (default 10)")
    sl.add_argument("--Vl", type=float, default=20.0, help="long-lattice depth in Er,l (default 20)")
    sl.add_argument("--lambda-l-nm", type=float, default=1534.0, help="long-lattice wavelength in nm (default 1534)")
    sl.add_argument("--atom", default="Rb87", help="species (default Rb87)")
    sl.add_argument("--n-bands", type=int, default=3, help="bands to compute (default 3)")
    sl.add_argument("--json", action="store_true", help="print a JSON object instead of a table")
    sl.set_defaults(handler=_theory_superlattice)
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
    from atompump.constants import SPECIES

    if getattr(args, "atom", "Rb87") not in SPECIES:
        parser.exit(2, f"atompump: error: unknown atom {args.atom!r}; choose one of {sorted(SPECIES)}\n")
    try:
        result = args.handler(args)
    except (AtompumpError, ValueError) as exc:
        parser.exit(2, f"atompump: error: {str(exc).splitlines()[0]}\n")
    if getattr(args, "json", False):
        json.dump(result, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        _print_table(result)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
