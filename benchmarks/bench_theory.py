"""Benchmark of the theory engine (run on demand: ``python benchmarks/bench_theory.py``).

(a) time to the lowest three Chern numbers of the Lohse lattice (Vs = 10 Er,s, Vl = 20 Er,l) at integer precision;
(b) the Rice–Mele Chern number by atompump and by PythTB's ``wf_array.berry_flux`` on the same (k, phi) mesh, as a
    speed ratio measured in this run (target: atompump >= 10x faster), end to end (diagonalisation + flux) and
    for the flux alone on identical eigenvectors;
(c) the theory rule end to end (``snakemake results/theory/theory.json`` in a fresh directory, including
    Snakemake's start-up; target < 10 s), and the stage function alone; with the CPU time of the rule's processes
    (user + system), which a loaded machine does not inflate;
(d) quantum geometry (issue 12, item 5): the worst violation of sqrt(det g) >= |Omega|/2 on the uniform mesh and on
    the locally refined one (target < 1 %), the refined mesh, and the cost of the refinement as the ratio of
    ``superlattice_topology`` with and without it, measured in this run;
(e) ``atompump theory superlattice-scan`` on its default grid (9 x 5 lattices): time per lattice.
"""

from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from atompump.theory import SuperlatticeParams, superlattice_topology  # noqa: E402
from atompump.theory.berry import chern_number, torus_states  # noqa: E402
from atompump.theory.rice_mele import RiceMeleParams, bloch_hamiltonian  # noqa: E402


def best_of(func, repeats: int = 3):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def lohse_chern_numbers() -> None:
    elapsed, ds = best_of(lambda: superlattice_topology(SuperlatticeParams(Vs_Er=10, Vl_Er=20), refine_geometry=False))
    raw = ds.chern_number_raw.values
    print(f"(a) Lohse lattice, lowest three Chern numbers {ds.chern_number.values.tolist()} "
          f"(max |raw - integer| = {np.abs(raw - np.rint(raw)).max():.1e}) on a {ds.attrs['n_k']}x{ds.attrs['n_phi']} "
          f"mesh, n_max = {ds.attrs['n_max']}: {elapsed * 1e3:.0f} ms (best of 3)")


def pythtb_models(model, n_k, n_phi):
    import pythtb

    models = []
    for j in range(n_phi + 1):
        j1, j2, delta = (float(v) for v in model.couplings(2 * np.pi * j / n_phi))
        tb = pythtb.tb_model(1, 1, [[1.0]], [[0.0], [0.5]])
        tb.set_onsite([delta, -delta])
        tb.set_hop(-j1, 0, 1, [0])
        tb.set_hop(-j2, 1, 0, [1])
        models.append(tb)
    return models


def pythtb_chern(model, n_k, n_phi, vectors=None):
    import pythtb

    models = pythtb_models(model, n_k, n_phi)
    wf = pythtb.wf_array(models[0], [n_k + 1, n_phi + 1])
    for j, tb in enumerate(models):
        if vectors is None:
            _, evecs = tb.solve_all(np.linspace(0.0, 1.0, n_k + 1), eig_vectors=True)
            for i in range(n_k + 1):
                wf[i, j] = evecs[:, i, :]
        else:
            for i in range(n_k + 1):
                wf[i, j] = vectors[j][i]
    wf.impose_pbc(0, 0)
    wf.impose_loop(1)
    return -wf.berry_flux([0]) / (2 * np.pi)  # PythTB's (k, phi) orientation is opposite to physics.md


def atompump_chern(model, n_k, n_phi):
    _, _, _, vectors = torus_states(lambda k, p: bloch_hamiltonian(k, p, model), n_k=n_k, n_phi=n_phi)
    return chern_number(vectors[..., 0])


def rice_mele_ratio() -> None:
    model = RiceMeleParams(J=1.0, dJ=0.5, Delta=1.0)
    for n_k, n_phi in [(24, 48), (64, 128)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_pythtb, c_pythtb = best_of(lambda: pythtb_chern(model, n_k, n_phi))
            t_ours, c_ours = best_of(lambda: atompump_chern(model, n_k, n_phi), repeats=5)
            # flux alone, on the same eigenvectors (PythTB's basis: its solve_all output)
            import pythtb

            models = pythtb_models(model, n_k, n_phi)
            vecs = [tb.solve_all(np.linspace(0.0, 1.0, n_k + 1), eig_vectors=True)[1].transpose(1, 0, 2)
                    for tb in models]
            wf = pythtb.wf_array(models[0], [n_k + 1, n_phi + 1])
            for j in range(n_phi + 1):
                for i in range(n_k + 1):
                    wf[i, j] = vecs[j][i]
            wf.impose_pbc(0, 0)
            wf.impose_loop(1)
            t_flux_pythtb, _ = best_of(lambda: wf.berry_flux([0]))
            u = np.stack([np.stack([vecs[j][i][0] for j in range(n_phi + 1)]) for i in range(n_k + 1)])
            # PythTB's vectors include the orbital positions (0, 1/2): u(k + 2 pi) = diag(1, -1) u(k)
            u[-1] = u[0] * np.array([1.0, -1.0])
            u[:, -1] = u[:, 0]
            t_flux_ours, c_same = best_of(lambda: chern_number(u), repeats=5)
        print(f"(b) Rice-Mele C on a {n_k}x{n_phi} mesh: atompump {c_ours:+.6f}, PythTB {c_pythtb:+.6f} "
              f"(sign-corrected), same vectors {c_same:+.6f}")
        print(f"    end to end: atompump {t_ours * 1e3:.2f} ms, PythTB {t_pythtb * 1e3:.1f} ms -> "
              f"{t_pythtb / t_ours:.0f}x faster; flux alone: {t_flux_ours * 1e3:.2f} ms vs "
              f"{t_flux_pythtb * 1e3:.1f} ms -> {t_flux_pythtb / t_flux_ours:.0f}x faster")


def theory_rule() -> None:
    from atompump.stages.theory import theory_stage

    from atompump.config import fill_defaults

    config = fill_defaults({})  # the default config's lattice (Lohse), theory and pump sections
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        elapsed, _ = best_of(lambda: theory_stage(out / "t.json", out / "b.nc", out / "w.nc", lattice=config["lattice"],
                                                  theory=config["theory"], atom="Rb87", pump=config["pump"]),
                                            repeats=2)
        print(f"(c) theory stage function: {elapsed:.2f} s")
        start = time.perf_counter()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(out / "run"),
                               "--cores", "1", "results/theory/theory.json"], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        if proc.returncode != 0:
            status = f"FAILED ({proc.stderr[-300:]})"
        else:
            status = "target met" if elapsed < 10 else "target NOT met"
        print(f"    theory rule end to end (snakemake, fresh directory, incl. start-up): {elapsed:.2f} s wall, "
              f"{cpu:.2f} s CPU, {status} (target < 10 s; load average {os.getloadavg()[0]:.1f} on "
              f"{os.cpu_count()} cores)")


def quantum_geometry() -> None:
    from atompump.theory.adaptive import inequality_violation

    params = SuperlatticeParams(Vs_Er=10, Vl_Er=20)
    t_plain, plain = best_of(lambda: superlattice_topology(params, refine_geometry=False))
    t_refined, ds = best_of(lambda: superlattice_topology(params))
    names = ("berry_curvature", "quantum_metric_kk", "quantum_metric_phiphi", "quantum_metric_kphi")
    before = inequality_violation(*(plain[n].values for n in names))
    after = inequality_violation(*(ds[n + "_fine"].values for n in names))
    status = "target met" if after.max() < 0.01 else "target NOT met"
    print(f"(d) worst violation of sqrt(det g) >= |Omega|/2 (fraction of each band's peak |Omega|/2), bands 1-3: "
          f"uniform {plain.attrs['n_k']}x{plain.attrs['n_phi']} mesh {np.round(before, 4).tolist()}, refined "
          f"{ds.sizes['k_fine']}x{ds.sizes['phi_fine']} mesh ({ds.attrs['geometry_levels']} bisection rounds, "
          f"smallest phi step {np.diff(ds.phi_fine_edge.values).min():.4f} rad) {np.round(after, 8).tolist()}: "
          f"{status} (< 1 %)")
    print(f"    superlattice_topology with / without the refinement: {t_refined:.2f} s / {t_plain:.2f} s "
          f"(ratio {t_refined / t_plain:.2f}, best of 3)")


def superlattice_scan() -> None:
    from atompump.cli import main

    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        main(["theory", "superlattice-scan", "--json"])
    elapsed = time.perf_counter() - start
    print(f"(e) theory superlattice-scan, default grid (45 lattices): {elapsed:.1f} s, {elapsed / 45 * 1e3:.0f} ms per "
          "lattice")


if __name__ == "__main__":
    lohse_chern_numbers()
    rice_mele_ratio()
    theory_rule()
    quantum_geometry()
    superlattice_scan()
