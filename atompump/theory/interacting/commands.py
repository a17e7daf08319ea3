"""``atompump theory`` sub-commands for interacting pumps (issue 13): hubbard-pump, fractional-pump,
hofstadter-bosons, coulomb-dot, disorder-scan.

Each handler returns the JSON contract of :mod:`atompump.theory.commands` (``model``, ``parameters``,
``chern_numbers``, ``min_gaps``, ``energy_unit``; a manifold of m quasi-degenerate states is one band group
``[1..m]``), the names of its extra keys in ``extras`` and, for scans, a ``table`` (list of rows) that
:func:`atompump.theory.commands.format_table` prints as columns.
"""

from __future__ import annotations

import argparse

__all__ = ["add_interacting_models"]


def _rice_mele_loop(args):
    from atompump.theory.interacting.hubbard import OffsetRiceMele

    return OffsetRiceMele(J=args.J, dJ=args.dJ, Delta=args.Delta, Delta0=args.Delta0)


def _hubbard_pump(args: argparse.Namespace) -> dict:
    from atompump.theory.interacting.hubbard import breakdown_scan, interacting_pump

    particles = {"spinful-fermions": "spinful", "bosons": "bosons", "fermions": "fermions"}[args.particles]
    kwargs = {"n_cells": args.n_cells, "particles": particles, "max_occupation": args.max_occupation,
              "n_theta": args.n_theta, "n_phi": args.n_phi}
    result = interacting_pump(_rice_mele_loop(args), U=args.U, **kwargs).summary()
    out = {
        "model": "hubbard-pump",
        "parameters": {"J": args.J, "dJ": args.dJ, "Delta": args.Delta, "Delta0": args.Delta0, "U": args.U,
                       "particles": args.particles, "n_cells": args.n_cells, "max_occupation": args.max_occupation},
        "chern_numbers": [result["chern_number"]],
        "min_gaps": [result["min_gap"]],
        "energy_unit": "unit of --J",
        **{k: v for k, v in result.items() if k not in ("chern_number", "min_gap")},
        "pumped_charge": result["chern_number"],
        "extras": ["pumped_charge", "resta_pumped_charge", "hilbert_dimension"],
        "convention": "J1,2 = J +- dJ cos phi, Delta(phi) = Delta0 + Delta sin phi, on-site U; charge = many-body "
                      "Chern number over (twist, phi), particles per cycle through a cut, +x positive",
    }
    if args.scan_U:
        out["table"] = [{"U": r["U"], "pumped_charge": r["chern_number"], "min_gap": r["min_gap"],
                         "resta": r["resta_pumped_charge"]} for r in breakdown_scan(_rice_mele_loop(args), args.scan_U,
                                                                                   **kwargs)]
    return out


def _fractional_pump(args: argparse.Namespace) -> dict:
    from atompump.theory.interacting.fractional import fractional_pump

    s = fractional_pump(n_sites=args.n_sites, n_particles=args.n_particles, alpha=1.0 / args.q, V=args.V, U=args.U,
                        V1=args.V1, interaction_range=args.range, max_occupation=args.max_occupation,
                        m=args.manifold, n_theta=args.n_theta,
                        n_phi=args.n_phi).summary()
    return {
        "model": "fractional-pump",
        "parameters": {"n_sites": args.n_sites, "n_particles": args.n_particles, "alpha": f"1/{args.q}", "V": args.V,
                       "U": args.U, "V1": args.V1, "range": args.range,
                       "max_occupation": args.max_occupation},
        "chern_numbers": [s["total_chern_number"]],
        "band_groups": [list(range(1, args.manifold + 1))],
        "min_gaps": [None] * (args.manifold - 1) + [s["min_gap"]],  # per state: the gap above the manifold last
        "energy_unit": "J",
        **s,
        "extras": ["total_chern_number", "charge_per_state", "return_cycles", "transported_charge_per_cycle",
                   "max_splitting", "hilbert_dimension"],
        "convention": "bosons, -J hopping, V cos(2 pi j / q + phi), U on site, V1 within --range sites; rows = "
                      "states of the ground manifold",
    }


def _hofstadter_bosons(args: argparse.Namespace) -> dict:
    from atompump.theory.interacting.fractional import HofstadterBosons, flux_insertion_return, hofstadter_chern

    system = HofstadterBosons(Lx=args.Lx, Ly=args.Ly, p=args.p, q=args.q, n_particles=args.n_particles, U=args.U)
    r = hofstadter_chern(system, m=args.manifold, n_theta=args.n_theta)
    quanta, hall, _ = flux_insertion_return(system, m=args.manifold, max_quanta=2 * args.manifold)
    return {
        "model": "hofstadter-bosons",
        "parameters": {"Lx": args.Lx, "Ly": args.Ly, "p": args.p, "q": args.q, "n_particles": args.n_particles,
                       "U": "hard-core" if args.U is None else args.U},
        "chern_numbers": [r.chern_number],
        "band_groups": [list(range(1, args.manifold + 1))],
        "min_gaps": [None] * (args.manifold - 1) + [r.min_gap],
        "energy_unit": "J",
        "filling": args.n_particles / system.flux_quanta,
        "flux_quanta": system.flux_quanta,
        "total_chern_number": r.chern_number,
        "sigma_xy_per_state": r.charge_per_state,
        "max_splitting": r.max_splitting,
        "hilbert_dimension": r.dimension,
        "flux_quanta_to_return": quanta,
        "charge_per_flux_quantum": hall if quanta else None,  # None: no return within 2 x manifold quanta
        "extras": ["filling", "total_chern_number", "sigma_xy_per_state", "max_splitting", "hilbert_dimension",
                   "flux_quanta_to_return", "charge_per_flux_quantum"],
        "convention": "atompump.theory.hofstadter's gauge and sign (twists theta_x, theta_y); sigma_xy in e^2/h",
    }


def _coulomb_dot(args: argparse.Namespace) -> dict:
    from atompump.theory.interacting.coulomb_dot import charge_per_cycle, turnstile_closed_form, turnstile_segments

    table = []
    for kT in args.kT:
        for f in args.frequency:
            segments = turnstile_segments(frequency=f, gamma=args.gamma, eps_load=args.eps_load,
                                          eps_unload=args.eps_unload)
            q = charge_per_cycle(segments, U=args.charging_energy, kT=kT, spinful=args.spinful)
            closed = turnstile_closed_form(frequency=f, gamma=args.gamma, eps_load=args.eps_load,
                                           eps_unload=args.eps_unload, kT=kT, spinful=args.spinful)
            table.append({"kT": kT, "frequency": f, "charge_per_cycle": q, "closed_form_two_states": closed})
    return {
        "model": "coulomb-dot",
        "parameters": {"gamma": args.gamma, "eps_load": args.eps_load, "eps_unload": args.eps_unload,
                       "charging_energy": args.charging_energy, "spinful": args.spinful},
        "chern_numbers": [],
        "min_gaps": [],
        "energy_unit": "unit of --eps-load",
        "rate_unit": "unit of --gamma (frequencies too)",
        "table": table,
        "extras": [],
        "convention": "load (L open, eps_load) - isolate - unload (R open, eps_unload) - reset, quarters of 1/f; "
                      "charge counted left to right; closed form: two charge states (spinless or U -> infinity)",
    }


def _disorder_scan(args: argparse.Namespace) -> dict:
    from atompump.theory.interacting.disorder_scan import disorder_scan
    from atompump.theory.rice_mele import RiceMeleParams

    scan = disorder_scan(RiceMeleParams(J=args.J, dJ=args.dJ, Delta=args.Delta), args.widths, sizes=args.sizes,
                         n_samples=args.samples, seed=args.seed, U=args.U)
    table = [{"n_cells": n, "W": w, "mean_charge": rows["mean_charge"][i], "clean_fraction": rows["clean_fraction"][i],
              "typical_gap": rows["typical_gap"][i]}
             for n, rows in scan["per_size"].items() for i, w in enumerate(scan["widths"])]
    return {
        "model": "disorder-scan",
        "parameters": {"J": args.J, "dJ": args.dJ, "Delta": args.Delta, "U": args.U, "samples": args.samples,
                       "seed": args.seed},
        "chern_numbers": [scan["clean_charge"]],
        "min_gaps": [scan["per_size"][args.sizes[0]]["typical_gap"][0]],
        "energy_unit": "unit of --J",
        "clean_charge": scan["clean_charge"],
        "table": table,
        "extras": ["clean_charge"],
        "convention": "uniform on-site disorder in [-W/2, W/2]; typical gap = geometric mean over realisations",
    }


def add_interacting_models(models, add) -> None:
    """Add the interacting models to the ``theory`` sub-parsers ``models`` (``add``: the common helper)."""
    hp = add(models, "hubbard-pump", _hubbard_pump,
             "interacting Rice-Mele ring (Fermi-/Bose-Hubbard) by exact diagonalisation: many-body Chern number")
    for name, default, text in (("--J", 1.0, "mean hopping (default 1)"), ("--dJ", 0.5, "hopping modulation (0.5)"),
                                ("--Delta", 1.0, "on-site modulation amplitude (1)"),
                                ("--Delta0", 0.0, "on-site offset of the loop (0; > Delta: trivial at U = 0)"),
                                ("--U", 0.0, "on-site interaction (0)")):
        hp.add_argument(name, type=float, default=default, help=text)
    hp.add_argument("--particles", choices=("spinful-fermions", "bosons", "fermions"), default="spinful-fermions",
                    help="spinful fermions at one per site, or bosons/spinless fermions at one per cell")
    hp.add_argument("--n-cells", type=int, default=3, help="cells of the ring (default 3)")
    hp.add_argument("--max-occupation", type=int, default=2, help="bosons per site at most (default 2)")
    hp.add_argument("--n-theta", type=int, default=6, help="twist mesh (default 6)")
    hp.add_argument("--n-phi", type=int, default=24, help="phase mesh (default 24)")
    hp.add_argument("--scan-U", type=float, nargs="+", metavar="U", help="also scan these interactions (table)")
    fp = add(models, "fractional-pump", _fractional_pump,
             "bosons at fractional filling in a 1D superlattice: q-fold manifold, charge C/q per state")
    fp.add_argument("--n-sites", type=int, default=12, help="ring sites (default 12)")
    fp.add_argument("--n-particles", type=int, default=2, help="bosons (default 2)")
    fp.add_argument("--q", type=int, default=3, help="superlattice period alpha = 1/q (default 3)")
    fp.add_argument("--V", type=float, default=3.0, help="superlattice amplitude (default 3)")
    fp.add_argument("--U", type=float, default=0.0, help="on-site interaction (default 0, with hard-core bosons)")
    fp.add_argument("--V1", type=float, default=8.0, help="repulsion within --range sites (default 8)")
    fp.add_argument("--range", type=int, default=3, help="range of the V1 repulsion in sites (default 3)")
    fp.add_argument("--max-occupation", type=int, default=1, help="bosons per site at most (default 1: hard-core)")
    fp.add_argument("--manifold", type=int, default=2, help="quasi-degenerate ground states (default 2)")
    fp.add_argument("--n-theta", type=int, default=4, help="twist mesh (default 4)")
    fp.add_argument("--n-phi", type=int, default=12, help="phase mesh (default 12)")
    hb = add(models, "hofstadter-bosons", _hofstadter_bosons,
             "Harper-Hofstadter bosons on a torus: many-body Chern number of the ground manifold")
    for name, default in (("--Lx", 4), ("--Ly", 4), ("--p", 1), ("--q", 4), ("--n-particles", 2), ("--manifold", 2),
                          ("--n-theta", 5)):
        hb.add_argument(name, type=int, default=default, help=f"(default {default})")
    hb.add_argument("--U", type=float, default=None, help="on-site interaction (default: hard-core bosons)")
    cd = add(models, "coulomb-dot", _coulomb_dot,
             "Coulomb-blockade turnstile: sequential-tunnelling charge per cycle against frequency and temperature")
    cd.add_argument("--frequency", type=float, nargs="+", default=[0.01, 0.1, 1.0], help="drive frequencies")
    cd.add_argument("--kT", type=float, nargs="+", default=[0.1, 1.0], help="lead temperatures")
    cd.add_argument("--gamma", type=float, default=1.0, help="open-barrier tunnelling rate (default 1)")
    cd.add_argument("--eps-load", type=float, default=-5.0, help="level while loading (default -5)")
    cd.add_argument("--eps-unload", type=float, default=5.0, help="level while unloading (default 5)")
    cd.add_argument("--charging-energy", type=float, default=100.0, help="addition energy of a 2nd electron (100)")
    cd.add_argument("--spinful", action="store_true", help="spin-degenerate level (default: spinless)")
    ds = add(models, "disorder-scan", _disorder_scan,
             "pumped charge of a disordered Rice-Mele ring against disorder width, over seeded realisations")
    for name, default in (("--J", 1.0), ("--dJ", 0.5), ("--Delta", 1.0)):
        ds.add_argument(name, type=float, default=default, help=f"(default {default})")
    ds.add_argument("--widths", type=float, nargs="+", default=[0.0, 1.0, 4.0, 16.0], help="disorder widths W")
    ds.add_argument("--sizes", type=int, nargs="+", default=[4, 8], help="ring sizes in cells (default 4 8)")
    ds.add_argument("--samples", type=int, default=8, help="realisations per width (default 8)")
    ds.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    ds.add_argument("--U", type=float, default=None, help="interacting ring (spinful fermions) with this U")
