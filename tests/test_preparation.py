"""Issue 12, items 1-2: one physics model for theory and simulator; populations set where the atoms are prepared."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from atompump.config import fill_defaults
from atompump.constants import H_PLANCK, K_B
from atompump.errors import ConfigError, ParameterError
from atompump.simulate.dynamics import InitialEnsemble, ensemble_weights
from atompump.simulate.run import initial_band_populations
from atompump.simulate.tight_binding import TightBindingModel
from atompump.stages.simulate import dynamics_params
from atompump.theory.populations import PopulationError, fermi_dirac_fill, kT_in_energy_unit
from atompump.theory.preparation import prepared_populations
from atompump.theory.rice_mele import LOHSE_RICE_MELE, band_energies, direct_gap, real_space_hamiltonian
from atompump.theory.superlattice import SuperlatticeParams

LOHSE = SuperlatticeParams(Vs_Er=10.0, Vl_Er=20.0, lambda_l_nm=1534.0)
LIBRARY = Path(__file__).resolve().parents[1] / "atompump"


# ----------------------------------------------------------------------------------------------- one model
def test_the_simulator_chain_is_the_theory_rice_mele_hamiltonian_plus_the_trap():
    model = TightBindingModel(LOHSE_RICE_MELE, n_cells=12, trap_hz=50.0)
    for phi in (0.0, 0.7, np.pi / 2, 2.5):
        theory = real_space_hamiltonian(LOHSE_RICE_MELE, phi, 12).real
        np.testing.assert_allclose(model.hamiltonian(phi) - np.diag(model.v_trap), theory, atol=1e-15)
        k, e, _ = model._bloch(phi)
        np.testing.assert_allclose(e, band_energies(k, phi, LOHSE_RICE_MELE), atol=1e-13)
    phi = np.linspace(0, 2 * np.pi, 9)
    np.testing.assert_array_equal(model.band_gap(phi), direct_gap(phi, LOHSE_RICE_MELE))
    # the Lohse couplings' minimum gap 4 dJ at phi = 0 (physics.md: 0.112 Er,s)
    assert model.band_gap(np.array([0.0]))[0] == pytest.approx(4 * 0.028)
    with pytest.raises(ConfigError, match="couplings must have a method couplings"):
        TightBindingModel(lambda phi: (1.0, 1.0, 0.0), n_cells=8)


def test_boltzmann_constant_and_planck_constant_are_defined_once():
    assert K_B == 1.380649e-23 and H_PLANCK == 6.62607015e-34  # exact SI values
    assert kT_in_energy_unit(10.0, energy_unit_hz=1.0) == pytest.approx(208.3661912, rel=1e-9)  # Hz at 10 nK
    literals = []
    for path in LIBRARY.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, float):
                if any(np.isclose(node.value, c, rtol=1e-6, atol=0.0) for c in (K_B, H_PLANCK)):
                    literals.append(str(path.relative_to(LIBRARY)))
    assert literals == ["constants.py", "constants.py"]


def test_one_fermi_filling_for_the_prediction_and_the_simulator():
    energies = np.array([0.0, 0.0, 1.0, 2.0, 3.0])
    occ, mu = fermi_dirac_fill(energies, n_particles=2.5, kT=0.0)
    np.testing.assert_allclose(occ, [1, 1, 0.5, 0, 0])
    assert mu == 1.0
    # two levels, one particle: n_1 / n_0 = exp(-gap / kT) and mu halfway, by symmetry
    occ, mu = fermi_dirac_fill(np.array([0.0, 1.0]), n_particles=1.0, kT=0.3)
    assert mu == pytest.approx(0.5, abs=1e-12)
    assert occ[1] == pytest.approx(1 / (np.exp(0.5 / 0.3) + 1), rel=1e-12)
    # the simulator's tube filling is the same function
    levels = np.sort(np.random.default_rng(3).uniform(0, 1, 40))
    tube = InitialEnsemble(atoms_per_tube=12, cloud="tube", temperature=0.05)
    np.testing.assert_allclose(ensemble_weights(levels, tube), fermi_dirac_fill(levels, n_particles=12, kT=0.05)[0])
    with pytest.raises(PopulationError, match="cannot place 6 fermions in 5 levels"):
        fermi_dirac_fill(energies, n_particles=6, kT=0.1)


# ----------------------------------------------------------------------------------------------- preparation
def test_long_lattice_loading_keeps_band_two_empty_at_10_nK():
    prep = prepared_populations(LOHSE, loading="long_lattice", temperature_nK=10.0)
    assert prep.populations[1] < 1e-3  # the acceptance point; in fact exp(-7.5 kHz / 208 Hz)
    assert prep.populations[1] == pytest.approx(np.exp(-prep.loading_gap_hz / 208.366), rel=0.5)
    assert prep.loading_gap_hz == pytest.approx(7.5e3, rel=0.02)
    assert "long lattice alone" in prep.source
    # formed in the pump lattice at phi = 0 (bands 1 and 2 only 434 Hz apart) the same cloud has 9 % in band 2
    start = prepared_populations(LOHSE, loading="pump_start", phi0=0.0, temperature_nK=10.0)
    assert start.loading_gap_hz == pytest.approx(434, rel=0.02)
    assert start.populations[1] == pytest.approx(0.093, abs=0.005)
    # the long lattice alone does not depend on phi0; the pump lattice at phi0 = pi/2 has a 4.5 Er,s gap
    assert prepared_populations(LOHSE, loading="long_lattice", phi0=1.0, temperature_nK=10.0).populations[0] == \
        pytest.approx(prep.populations[0], abs=1e-15)
    assert prepared_populations(LOHSE, loading="pump_start", phi0=np.pi / 2, temperature_nK=10.0).populations[1] < 1e-9


def test_hot_loading_is_boltzmann_over_the_long_lattice_bands():
    # a hot cloud fills band 2 of the long lattice by its Boltzmann weight, band-averaged over k
    from atompump.theory.superlattice import bloch_states_at

    prep = prepared_populations(LOHSE, loading="long_lattice", temperature_nK=100.0, n_bands=3, n_k=16)
    _, e, _ = bloch_states_at(SuperlatticeParams(Vs_Er=0.0, Vl_Er=20.0), 0.0, n_k=16, n_bands=5)
    kT = kT_in_energy_unit(100.0, energy_unit_hz=LOHSE.recoil_s_hz)
    w = np.exp(-(e[:-1].T - e.min()) / kT).sum(axis=1)
    assert prep.populations[1] / prep.populations[0] == pytest.approx(w[1] / w[0], rel=1e-9)
    with pytest.raises(PopulationError, match="loading path must be one of"):
        prepared_populations(LOHSE, loading="mott", temperature_nK=1.0)
    with pytest.raises(PopulationError, match="needs a temperature"):
        prepared_populations(LOHSE, loading="pump_start")


def _dynamics(model: str, **pump):
    """The simulator's DynamicsParams of a partial config, through the configuration boundary."""
    return dynamics_params(fill_defaults({"simulation": {"dynamics": model}, "pump": pump}))


def test_the_simulator_takes_its_populations_from_the_same_preparation():
    hot_start = _dynamics("continuum", loading="pump_start", temperature_nK=10.0)
    p = initial_band_populations(hot_start)
    assert p == pytest.approx(tuple(prepared_populations(LOHSE, loading="pump_start",
                                                         temperature_nK=10.0).populations[:2]), abs=1e-12)
    assert initial_band_populations(_dynamics("tight_binding", loading="long_lattice", temperature_nK=10.0)) == (1.0,)
    assert initial_band_populations(_dynamics("rigid", loading="populations", band_populations=[0.8, 0.2])) == \
        pytest.approx((0.8, 0.2))
    with pytest.raises(ParameterError, match="above band 2, which the tight-binding model does not hold"):
        initial_band_populations(_dynamics("tight_binding", loading="pump_start", temperature_nK=60.0))


def test_the_library_names_its_parameters_and_each_stage_its_config_keys(tmp_path):
    """Issue 15, item 1: the library's error names its own parameters (model, temperature_nK); the simulate stage
    names the simulator's config keys and the theory stage its own (theory.dynamics) for the same error."""
    from atompump.stages.simulate import simulate_stage
    from atompump.stages.theory import prediction_stage

    hot = {"loading": "pump_start", "temperature_nK": 60.0}
    with pytest.raises(ParameterError, match=r"does not hold: use model: continuum, or lower temperature_nK$"):
        initial_band_populations(_dynamics("tight_binding", **hot))
    config = fill_defaults({"pump": hot, "simulation": {"dynamics": "tight_binding", "cycles": [0, 1]}})
    sections = {key: config[key] for key in ("simulation", "imaging", "lattice", "atom", "pump")}
    with pytest.raises(ConfigError, match=r"^config key 'simulation.dynamics': the prepared cloud .* does not hold: "
                                          r"use simulation.dynamics: continuum, or lower pump.temperature_nK$"):
        simulate_stage(tmp_path / "run", **sections)
    with pytest.raises(ConfigError, match=r"^config key 'theory.dynamics': the prepared cloud .* does not hold: "
                                          r"use theory.dynamics: continuum, or lower pump.temperature_nK$"):
        prediction_stage(tmp_path / "prediction.json", theory={"dynamics": "tight_binding"}, pump=config["pump"],
                         numerics=config["simulation"]["pump"], tight_binding=config["simulation"]["tight_binding"],
                         lattice=config["lattice"], atom=config["atom"], cycles=[0, 1])
    assert not (tmp_path / "prediction.json").exists()


# ----------------------------------------------------------------------------------------------- full prediction
def test_smooth_ramp_on_reaches_whole_cycles_half_a_ramp_late():
    from atompump.simulate.dynamics import PumpProtocol

    sudden = PumpProtocol(period=100.0)
    smooth = PumpProtocol(period=100.0, ramp=40.0)
    t = np.linspace(0, 300, 31)
    np.testing.assert_allclose(sudden.advance(t), t / 100.0)
    # the phase velocity rises as sin^2 and is continuous; past the ramp the phase lags by tau / 2
    dphi = np.gradient(smooth.advance(np.linspace(0, 40, 4001)), np.linspace(0, 40, 4001)) * 100.0
    np.testing.assert_allclose(dphi[[0, 2000, -1]], [0.0, 0.5, 1.0], atol=2e-3)
    np.testing.assert_allclose(smooth.time_of([0, 0.1, 1, 2.5]), [0, smooth.time_of(0.1)[0], 120, 270])
    assert float(smooth.advance(smooth.time_of(0.1)[0])) == pytest.approx(0.1, abs=1e-12)
    with pytest.raises(ConfigError, match="ramp-on time must be >= 0"):
        PumpProtocol(period=1.0, ramp=-1.0)


def test_nu_theory_is_the_prediction_for_the_shots_of_the_run():
    from atompump.fit import PumpData
    from atompump.simulate.run import design_displacement
    from atompump.stages.fit import predicted_nu

    prediction = {"method": "exact", "cycles": [0.0, 1.0, 2.0],
                  "centre_dl": {"1": [0.0, 0.97, 1.93], "-1": [0.0, -0.96, -1.91]}}
    cycles = np.array([0, 1, 2, 1, 2, 3, 0.0])
    directions = np.array([1, 1, 1, -1, -1, -1, 1])
    n = cycles.size
    data = PumpData(cycle=cycles, direction=directions, x_um=np.zeros(n), x_err_um=np.ones(n), order=np.arange(n),
                    reference=np.zeros(n, bool), shot=np.array([f"s{i}" for i in range(n)]), sequence=cycles)
    out = predicted_nu(prediction, data, nu_chern=1.0)
    # cycle 3 of direction -1 continues the last increment: -1.91 - 0.95
    expected = design_displacement(cycles, directions, [0, 0.97, 1.93, -0.96, -1.91, -2.86, 0])
    assert out["nu_theory"] == pytest.approx(expected, rel=1e-12)
    assert out["nu_chern"] == 1.0 and "continued beyond the last predicted cycle" in out["nu_theory_source"]
    assert predicted_nu({"method": "none"}, data, nu_chern=0.99)["nu_theory"] == 0.99


def test_theory_prediction_is_the_simulators_truth(tmp_path, caplog):
    """The default sequence, shortened: the theory's nu_theory for a design equals the simulator's nu_true; the
    theory stage reuses the simulator's dynamics (its DynamicsParams, built by the same boundary function, are
    equal) and gets the numbers of computing them itself."""
    import json

    from atompump.config import fill_defaults, load_schema
    from atompump.io.netcdf import write_dataset
    from atompump.simulate.run import _nu_true, design_run, predicted_centres, pump_dynamics
    from atompump.stages.simulate import simulation_params
    from atompump.stages.theory import prediction_stage

    root = Path(__file__).resolve().parents[1]
    config = fill_defaults({"pump": {"period_ms": 150.0, "atoms_per_tube": 10, "cloud": "tube"},
                            "simulation": {"cycles": [0, 1, 2], "repeats": 1}},
                           load_schema(root / "workflow/schemas/config.schema.yaml"))
    params = simulation_params(config)
    assert dynamics_params(config, model=config["theory"]["dynamics"]) == params.dynamics
    write_dataset(pump_dynamics(params.dynamics, cycles=(0.0, 1.0, 2.0), directions=(1, -1)),
                  tmp_path / "dynamics.nc")  # what the simulate stage writes
    with caplog.at_level("INFO"):
        summary = prediction_stage(tmp_path / "prediction.json", theory=config["theory"], pump=config["pump"],
                                   numerics=config["simulation"]["pump"],
                                   tight_binding=config["simulation"]["tight_binding"], lattice=config["lattice"],
                                   atom=config["atom"], cycles=[0, 1, 2], dynamics_path=tmp_path / "dynamics.nc")
    assert "reused, not computed again" in caplog.text
    assert json.loads((tmp_path / "prediction.json").read_text()) == summary
    design = design_run(params)
    x_um = {(c, d): summary["centre_dl"][str(d)][int(c)] * params.dl_um for c in (0.0, 1.0, 2.0) for d in (1, -1)}
    nu_true = _nu_true(design, x_um, params.dl_um)
    # at 150 ms per cycle the sudden start at the gap minimum and the crossings cost several per cent
    assert 0.6 < nu_true < 0.97
    assert summary["per_cycle_dl"]["1"] == pytest.approx(summary["per_cycle_dl"]["-1"], abs=2e-3)  # mirror images
    direct = predicted_centres(params.dynamics, cycles=[1, 2])
    assert direct["centre_dl"] == summary["centre_dl"]
