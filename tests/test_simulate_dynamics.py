"""Pump dynamics: exact diagonalisation at frozen phi, the adiabatic C * dl, convergence, the non-adiabatic deficit
against Landau--Zener, the trap's effect at the cloud edges, and the prepared ensembles."""

import numpy as np
import pytest

from atompump.errors import ConfigError, ParameterError
from atompump.simulate.dynamics import (
    ContinuumModel,
    InitialEnsemble,
    PumpProtocol,
    ensemble_weights,
    evolve,
    initial_ensemble,
    landau_zener_displacement,
    landau_zener_probability,
    many_body_position,
    run_pump,
    trap_curvature,
)
from atompump.simulate.tight_binding import TightBindingModel
from atompump.theory.rice_mele import LOHSE_RICE_MELE, RiceMeleParams
from atompump.theory import SuperlatticeParams, superlattice_topology

LOHSE = SuperlatticeParams(Vs_Er=10.0, Vl_Er=20.0, lambda_l_nm=1534.0)


@pytest.fixture(scope="module")
def topology():
    return superlattice_topology(LOHSE, n_bands=3, n_k=12, n_phi=24)


@pytest.fixture(scope="module")
def small_continuum():
    return ContinuumModel(LOHSE, n_cells=24, points_per_cell=12, trap_hz=50.0)


def _overlap_after(model, state, phi, dt, n_steps):
    step = model.stepper(dt)
    psi = state[None, :].astype(complex)
    for _ in range(n_steps):
        psi = step(psi, phi)
    return complex(np.vdot(state, psi[0]))


# ----------------------------------------------------------------------------------------------- frozen phi
def test_lattice_propagator_is_exact_without_trap():
    model = ContinuumModel(LOHSE, n_cells=8, points_per_cell=12, trap_hz=0.0)
    energies, vectors = np.linalg.eigh(model.hamiltonian(0.7))
    for n in (0, 5, 17):  # eigenstates of several bands
        overlap = _overlap_after(model, vectors[:, n], 0.7, dt=5.0, n_steps=10)
        assert overlap == pytest.approx(np.exp(-1j * energies[n] * 50.0), abs=1e-10)


def test_trapped_eigenstate_only_acquires_a_phase_second_order_in_dt(small_continuum):
    energies, vectors = np.linalg.eigh(small_continuum.hamiltonian(0.3))
    state, energy = vectors[:, 3], energies[3]
    errors = []
    for dt in (1.0, 0.5):
        overlap = _overlap_after(small_continuum, state, 0.3, dt=dt, n_steps=int(round(40.0 / dt)))
        errors.append(abs(overlap - np.exp(-1j * energy * 40.0)))
    assert errors[1] < 1e-5
    assert errors[0] / errors[1] > 3.0  # Strang splitting of the trap: at least O(dt^2)


def test_tight_binding_propagator_is_exact_with_trap():
    model = TightBindingModel(LOHSE_RICE_MELE, n_cells=20, trap_hz=80.0)
    energies, vectors = np.linalg.eigh(model.hamiltonian(1.1))
    overlap = _overlap_after(model, vectors[:, 2], 1.1, dt=7.0, n_steps=20)
    assert overlap == pytest.approx(np.exp(-1j * energies[2] * 140.0), abs=1e-10)


def test_band_gaps_match_the_theory_engine_and_the_rice_mele_closed_form(small_continuum, topology):
    assert small_continuum.band_gap(np.array([0.0]))[0] == pytest.approx(float(topology.min_gap_above[0]), rel=2e-3)
    tb = TightBindingModel(RiceMeleParams(J=0.033, dJ=0.028, Delta=2.258), n_cells=16)
    # 2 sqrt(Delta(phi)^2 + (J1 - J2)^2) at k = pi
    np.testing.assert_allclose(tb.band_gap(np.array([0.0, np.pi / 2, 1.0])),
                               [4 * 0.028, 2 * 2.258,
                                2 * np.hypot(2.258 * np.sin(1.0), 2 * 0.028 * np.cos(1.0))], rtol=1e-9)


def test_trap_curvature_closed_form():
    # 1/2 m w^2 dl^2 for Rb-87, 50 Hz, dl = 767 nm, in units of Er,s / h = 3.90 kHz
    k = trap_curvature(trap_hz=50.0, mass_amu=LOHSE.mass_amu, dl_um=0.767, recoil_s_hz=LOHSE.recoil_s_hz)
    m = LOHSE.mass_amu * 1.66053906660e-27
    expected = 0.5 * m * (2 * np.pi * 50.0) ** 2 * 0.767e-6**2 / (6.62607015e-34 * LOHSE.recoil_s_hz)
    assert k == pytest.approx(expected, rel=1e-12)
    assert LOHSE.recoil_s_hz == pytest.approx(3900, rel=0.01)


# ----------------------------------------------------------------------------------------------- adiabatic limit
@pytest.mark.parametrize("band, direction", [(1, 1), (2, 1), (1, -1)])
def test_slow_pump_moves_each_filled_band_by_its_chern_number(topology, band, direction):
    # a filled band on a periodic box (no trap): Resta's many-body position tracks the pumped charge
    model = ContinuumModel(LOHSE, n_cells=8, points_per_cell=12, trap_hz=0.0)
    populations = (1.0, 0.0) if band == 1 else (0.0, 1.0)
    orbitals = initial_ensemble(model, InitialEnsemble(band_populations=populations, atoms_per_tube=8,
                                                       cloud="tube"), phi0=np.pi / 2)
    states = orbitals.states[orbitals.weights > 0]
    assert states.shape[0] == 8
    protocol = PumpProtocol(period=20000.0, direction=direction, phi0=np.pi / 2, dt=4.0)
    snapshots = evolve(model, states, protocol, np.linspace(0.0, 20000.0, 41))
    angle = np.unwrap([2 * np.pi / 8 * many_body_position(s, model.positions, 8.0) for s in snapshots])
    per_particle = (angle[-1] - angle[0]) * 8 / (2 * np.pi) / 8
    chern = int(topology.chern_number[band - 1])
    assert chern == (1 if band == 1 else -1)
    assert per_particle == pytest.approx(direction * chern, abs=1e-3)


def test_slow_pump_moves_a_trapped_cloud_by_c_dl():
    model = TightBindingModel(LOHSE_RICE_MELE, n_cells=64, trap_hz=50.0)
    orbitals = initial_ensemble(model, InitialEnsemble(atoms_per_tube=35), phi0=np.pi / 2)
    ds = run_pump(model, orbitals, PumpProtocol(period=20000.0, phi0=np.pi / 2, dt=8.0), n_cycles=1)
    assert ds.attrs["displacement_per_cycle_dl"] == pytest.approx(1.0, abs=0.005)
    assert ds.band_population.values[-1, 0] > 0.999
    assert list(ds.cycle.values) == [0.0, 0.5, 1.0]  # every half cycle
    assert ds.norm.values == pytest.approx(1.0, abs=1e-9)
    assert ds.density.values.sum(axis=1) == pytest.approx(1.0, abs=1e-9)


# ----------------------------------------------------------------------------------------------- convergence
@pytest.fixture(scope="module")
def fast_pump_runs():
    """One non-adiabatic cycle (T = 1000 hbar/Er,s = 41 ms) of a small trapped cloud, at several dt and grids."""
    out = {}
    for points, dt in ((16, 2.0), (16, 1.0), (16, 0.5), (20, 0.5)):
        model = ContinuumModel(LOHSE, n_cells=16, points_per_cell=points, trap_hz=50.0)
        orbitals = initial_ensemble(model, InitialEnsemble(atoms_per_tube=6, cloud="tube"))
        ds = run_pump(model, orbitals, PumpProtocol(period=1000.0, dt=dt, substeps=2), n_cycles=1)
        out[points, dt] = (ds.band_population.values[-1, 0], ds.displacement_dl.values[-1])
    return out


def test_continuum_dynamics_converges_in_dt(fast_pump_runs):
    coarse, mid, fine = (fast_pump_runs[16, dt] for dt in (2.0, 1.0, 0.5))
    assert abs(mid[0] - fine[0]) < 2e-4 and abs(mid[1] - fine[1]) < 2e-3
    assert abs(coarse[0] - mid[0]) > 4 * abs(mid[0] - fine[0])  # at least second order


def test_continuum_dynamics_converges_in_the_grid(fast_pump_runs):
    assert fast_pump_runs[20, 0.5][0] == pytest.approx(fast_pump_runs[16, 0.5][0], abs=5e-4)
    assert fast_pump_runs[20, 0.5][1] == pytest.approx(fast_pump_runs[16, 0.5][1], abs=5e-4)


def test_short_periods_pump_less(fast_pump_runs):
    band1, displacement = fast_pump_runs[16, 0.5]
    assert band1 < 0.5 and displacement < 0.3  # 41 ms per cycle is far from adiabatic


def test_tight_binding_agrees_with_the_continuum():
    protocol = PumpProtocol(period=5000.0, dt=2.0, substeps=2)
    results = []
    for model in (ContinuumModel(LOHSE, n_cells=32, points_per_cell=16, trap_hz=50.0),
                  TightBindingModel(LOHSE_RICE_MELE, n_cells=32, trap_hz=50.0)):
        orbitals = initial_ensemble(model, InitialEnsemble(atoms_per_tube=14))
        ds = run_pump(model, orbitals, protocol, n_cycles=1)
        results.append((ds.displacement_dl.values[-1], ds.band_population.values[-1, 1]))
    assert 0.8 < results[0][0] < 0.95  # 204 ms per cycle: a few per cent non-adiabatic
    assert results[1][0] == pytest.approx(results[0][0], abs=0.015)
    assert results[1][1] == pytest.approx(results[0][1], abs=0.015)


# ----------------------------------------------------------------------------------------------- non-adiabatic
def test_non_adiabatic_transfer_follows_landau_zener_from_the_minimum_gap():
    couplings = LOHSE_RICE_MELE
    model = TightBindingModel(couplings, n_cells=40)
    orbitals = initial_ensemble(model, InitialEnsemble(atoms_per_tube=30, cloud="tube"), phi0=np.pi / 2)
    min_gap = model.band_gap(np.array([np.pi]))[0]
    ratios, transferred = [], []
    for period in (2000.0, 3000.0, 4000.0, 5000.0, 6000.0):
        ds = run_pump(model, orbitals, PumpProtocol(period=period, phi0=np.pi / 2, dt=2.0), n_cycles=1)
        p = landau_zener_probability(min_gap=min_gap, gap_slope=2 * couplings.Delta, period=period)
        transferred.append(ds.band_population.values[-1, 1])
        ratios.append(transferred[-1] / (2 * p * (1 - p)))  # two crossings per cycle
    assert np.all(np.diff(transferred) < 0.06)  # falls with the period (up to Stueckelberg oscillations)
    assert transferred[0] > 5 * transferred[-1]
    # the minimum-gap estimate bounds the transfer (other k have larger gaps) and sets its scale
    assert all(0.3 < r < 1.2 for r in ratios)
    assert 0.5 < np.mean(ratios) < 1.0


def test_landau_zener_closed_forms():
    p = landau_zener_probability(min_gap=0.1, gap_slope=4.0, period=1000.0)
    assert p == pytest.approx(np.exp(-np.pi * 0.01 / (2 * 4.0 * 2 * np.pi / 1000.0)))
    assert landau_zener_displacement(0.0, 3) == pytest.approx(1.0)
    assert landau_zener_displacement(0.01, 1) == pytest.approx((1 - 0.01) * (1 - 0.98**2) / 0.02 / 2)
    assert landau_zener_displacement(1e-4, 2) == pytest.approx(1 - 4e-4, abs=1e-6)  # 1 - c n P
    assert landau_zener_displacement(0.5, 1) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="gap_slope > 0"):
        landau_zener_probability(min_gap=0.1, gap_slope=0.0, period=1.0)


# ----------------------------------------------------------------------------------------------- trap at the edges
def test_a_steep_trap_spoils_pumping_at_the_cloud_edges():
    deficits = {}
    for trap_hz in (25.0, 100.0):
        model = TightBindingModel(LOHSE_RICE_MELE, n_cells=64, trap_hz=trap_hz)
        orbitals = initial_ensemble(model, InitialEnsemble(atoms_per_tube=35, cloud="tube"))
        ds = run_pump(model, orbitals, PumpProtocol(period=9800.0, dt=4.0), n_cycles=1)
        moved = ds.orbital_com_dl.values[-1] - ds.orbital_com_dl.values[0]
        r = ds.orbital_distance_dl.values
        deficits[trap_hz] = moved[r < np.percentile(r, 40)].mean() - moved[r > np.percentile(r, 80)].mean()
    assert deficits[25.0] < 0.0  # a weak trap: the edges pump as well as the centre
    assert deficits[100.0] > 0.02  # a steep trap: its gradient drives interband transitions at the edges


# ----------------------------------------------------------------------------------------------- ensembles
def test_tube_filling_and_temperature():
    energies = np.linspace(0.0, 1.0, 40)
    zero_t = ensemble_weights(energies, InitialEnsemble(atoms_per_tube=10.5, cloud="tube"))
    assert zero_t.sum() == pytest.approx(10.5)
    assert np.all(zero_t[:10] == 1.0) and zero_t[10] == pytest.approx(0.5) and np.all(zero_t[11:] == 0)
    warm = ensemble_weights(energies, InitialEnsemble(atoms_per_tube=10, cloud="tube", temperature=0.05))
    assert warm.sum() == pytest.approx(10.0, rel=1e-9)
    assert 0 < warm[15] < 0.5 and warm[0] > 0.99
    # cloud3d: ring i of 64 equal-area rings holds N sqrt(1 - (i + 1/2)/64) atoms
    cloud = ensemble_weights(energies, InitialEnsemble(atoms_per_tube=20, cloud="cloud3d"))
    rings = 20 * np.sqrt(1 - (np.arange(64) + 0.5) / 64)
    assert cloud.sum() == pytest.approx(rings.mean())
    assert cloud[0] == 1.0 and np.all(np.diff(cloud) <= 1e-12)


def test_initial_ensemble_is_stationary_and_normalised(small_continuum):
    orbitals = initial_ensemble(small_continuum, InitialEnsemble(band_populations=(0.7, 0.3), atoms_per_tube=5,
                                                                 cloud="tube"))
    assert orbitals.weights.sum() == pytest.approx(1.0)
    assert orbitals.weights[orbitals.band == 2].sum() == pytest.approx(0.3)
    h = small_continuum.hamiltonian(0.0)
    residual = h @ orbitals.states.T - orbitals.states.T * orbitals.energies
    assert np.abs(residual).max() < 1e-9
    weights = small_continuum.band_weights(orbitals.states.T, 0.0, 2)
    assert np.all(weights[orbitals.band - 1, np.arange(orbitals.band.size)] > 0.5)


def test_bad_dynamics_input():
    with pytest.raises(ConfigError, match="period must be positive"):
        PumpProtocol(period=0.0)
    with pytest.raises(ConfigError, match="direction must be"):
        PumpProtocol(period=1.0, direction=2)
    with pytest.raises(ConfigError, match="sum to 1"):
        InitialEnsemble(band_populations=(0.5, 0.2))
    with pytest.raises(ConfigError, match="points_per_cell must be even"):
        ContinuumModel(LOHSE, n_cells=8, points_per_cell=7)
    model = TightBindingModel(LOHSE_RICE_MELE, n_cells=8)
    with pytest.raises(ParameterError, match=r"enlarge the simulation grid \(cells\) or lower atoms_per_tube$"):
        initial_ensemble(model, InitialEnsemble(atoms_per_tube=9, cloud="tube"))


def test_directions_simulated_in_parallel_processes_give_the_same_numbers():
    """pump_dynamics(workers=2) runs the two directions in two processes: the same dynamics, bit for bit."""
    from atompump.config import fill_defaults
    from atompump.simulate.run import pump_dynamics
    from atompump.stages.simulate import dynamics_params

    dyn = dynamics_params(fill_defaults({"simulation": {"dynamics": "tight_binding", "pump": {"cells": 40}},
                                         "pump": {"atoms_per_tube": 8, "period_ms": 100.0, "trap_hz": 20.0}}))
    serial = pump_dynamics(dyn, cycles=(0.0, 1.0), directions=(1, -1))
    parallel = pump_dynamics(dyn, cycles=(0.0, 1.0), directions=(1, -1), workers=2)
    assert serial.identical(parallel)
    per_cycle = serial.displacement_per_cycle_dl.values  # +1 and -1 pump opposite ways
    assert per_cycle[0] > 0.5 and per_cycle[1] == pytest.approx(-per_cycle[0], abs=0.05)
