"""Quantum geometry of the pump (issue 12, items 5 and 6): the metric bound of the curvature to 1 % on the locally
refined mesh, the curvature integrating to the Chern numbers, a two-level closed form; the quantum spread Omega_I,
its bound by the Chern number, and the centre-of-mass scatter it gives for N atoms."""

import numpy as np
import pytest

from atompump.theory import SuperlatticeParams, superlattice_topology
from atompump.theory.adaptive import inequality_violation, refined_geometry
from atompump.theory.rice_mele import RiceMeleParams, bloch_hamiltonian

PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]])


@pytest.fixture(scope="module")
def lohse():
    return superlattice_topology(SuperlatticeParams(Vs_Er=10, Vl_Er=20, lambda_l_nm=1534))


def _violation(ds, suffix=""):
    return inequality_violation(*(ds[name + suffix].values for name in ("berry_curvature", "quantum_metric_kk",
                                                                       "quantum_metric_phiphi", "quantum_metric_kphi")))


def test_metric_bounds_the_curvature_to_one_percent_on_the_refined_mesh(lohse):
    # on the uniform 48 x 96 mesh that gives integer Chern numbers, sqrt(det g) falls 4.5 % short of |Omega| / 2 at
    # the band-1 peak (phi = pi, k = pi / dl: a peak ~0.03 rad wide in phi, a mesh step of 0.065 rad)
    assert (lohse.attrs["n_k"], lohse.attrs["n_phi"]) == (48, 96)
    before = _violation(lohse)
    assert 0.03 < before[0] < 0.06
    after = _violation(lohse, "_fine")
    assert np.all(after < 0.01), after
    np.testing.assert_allclose(lohse.attrs["geometry_inequality_violation"], after)
    # the refinement is local: phi steps near the peaks are at least 8 times finer than the uniform mesh's, k is
    # left as it was (the peak is ~3 rad wide in k)
    steps = np.diff(lohse.phi_fine_edge.values)
    assert steps.min() <= 2 * np.pi / 96 / 8 + 1e-12 and steps.max() == pytest.approx(2 * np.pi / 96)
    assert lohse.sizes["phi_fine"] < 2 * 96 and lohse.sizes["k_fine"] == 48


def test_curvature_integrates_to_the_chern_numbers_on_the_refined_mesh(lohse):
    dk = np.diff(lohse.k_fine_edge.values)
    dphi = np.diff(lohse.phi_fine_edge.values)
    assert lohse.k_fine_edge.values[-1] - lohse.k_fine_edge.values[0] == pytest.approx(2 * np.pi / lohse.attrs["dl_um"])
    integral = np.einsum("bij,i,j->b", lohse.berry_curvature_fine.values, dk, dphi) / (2 * np.pi)
    np.testing.assert_allclose(integral, lohse.chern_number.values, atol=1e-9)
    assert lohse.chern_number.values.tolist() == [1, -1, 1]
    np.testing.assert_allclose(lohse.chern_number_raw.values, [1, -1, 1], atol=1e-9)  # still integers
    # the refined map is the uniform one where both are resolved (away from the peaks): same curvature at phi = pi/2
    uniform = lohse.berry_curvature.sel(band=3).interp(phi=np.pi / 2)
    fine = lohse.berry_curvature_fine.sel(band=3).interp(phi_fine=np.pi / 2, k_fine=lohse.k.values)
    np.testing.assert_allclose(fine.values[1:-1], uniform.values[1:-1], rtol=0.02)


def _two_level_fields(model, k, phi):
    """Closed forms for the lower band of H = d . sigma: Omega = -(1/2) d^ . (d_k d^ x d_phi d^) (in the orientation of
    the Fukui-Hatsugai-Suzuki plaquettes of atompump.theory.berry), g_mn = (1/4) d_m d^ . d_n d^."""

    def unit_d(kk, pp):
        h = bloch_hamiltonian(kk, pp, model)
        d = np.einsum("...ij,aji->...a", h, PAULI).real / 2
        return d / np.linalg.norm(d, axis=-1, keepdims=True)

    step = 1e-6
    n = unit_d(k, phi)
    n_k = (unit_d(k + step, phi) - unit_d(k - step, phi)) / (2 * step)
    n_p = (unit_d(k, phi + step) - unit_d(k, phi - step)) / (2 * step)
    omega = -0.5 * np.einsum("...a,...a->...", n, np.cross(n_k, n_p))
    return omega, 0.25 * (n_k**2).sum(-1), 0.25 * (n_p**2).sum(-1), 0.25 * (n_k * n_p).sum(-1)


def test_two_level_closed_form_on_a_refined_mesh():
    # Rice-Mele with a small gap 2 dJ at phi = 0, k = pi: a curvature peak ~0.1 rad wide in k and in phi,
    # against a coarse 16 x 16 starting mesh (steps of 0.39 rad)
    model = RiceMeleParams(J=1.0, dJ=0.05, Delta=1.0)

    def eigenvectors(k, phi):
        return np.linalg.eigh(bloch_hamiltonian(k, phi, model))[1]

    nodes = 2 * np.pi * np.arange(17) / 16
    geo = refined_geometry(eigenvectors, k_nodes=nodes, phi_nodes=nodes, bands=[0], tolerance=0.1, max_levels=6,
                           max_cells_factor=64)
    kc, pc = np.meshgrid(geo.k_centres, geo.phi_centres, indexing="ij")
    omega, g_kk, g_pp, g_kp = _two_level_fields(model, kc, pc)
    assert geo.chern_numbers()[0] == pytest.approx(1.0, abs=1e-9)
    assert np.sum(omega * geo.areas) / (2 * np.pi) == pytest.approx(1.0, abs=0.01)  # midpoint rule on the closed form
    peak = np.abs(omega).max()
    assert np.abs(geo.curvature[0] - omega).max() < 0.01 * peak
    for numeric, exact in ((geo.g_kk[0], g_kk), (geo.g_phiphi[0], g_pp), (geo.g_kphi[0], g_kp)):
        assert np.abs(numeric - exact).max() < 0.01 * peak / 2
    # two levels: sqrt(det g) = |Omega| / 2 exactly; on the refined mesh to 1 % of the peak, both ways
    assert np.abs(geo.sqrt_det_g()[0] - np.abs(geo.curvature[0]) / 2).max() < 0.01 * peak / 2
    # local: far fewer nodes than a uniform mesh as fine as the finest cells
    for nodes_refined in (geo.k_nodes, geo.phi_nodes):
        assert nodes_refined.size < 0.25 * 2 * np.pi / np.diff(nodes_refined).min()
    # the uniform starting mesh does not see the peak: its largest plaquette-averaged curvature is a fraction of it
    coarse = refined_geometry(eigenvectors, k_nodes=nodes, phi_nodes=nodes, bands=[0], max_levels=0)
    assert coarse.levels == 0 and np.abs(coarse.curvature).max() < 0.2 * peak


# --- item 6: quantum spread -----------------------------------------------------------------------------------------


def test_spread_bound_holds_on_the_default_lattice(lohse):
    from atompump.theory.spread import quantum_geometry_summary

    geometry = quantum_geometry_summary(lohse, [1.0])
    dl = lohse.attrs["dl_um"]
    # <Omega_I>_phi G_phiphi >= C^2 dl^2 / 4, and the intermediate int 2 sqrt(det g) >= 2 pi |C|, for every band
    assert all(r >= 1 for r in geometry["bound_ratio"]) and all(r >= 1 for r in geometry["curvature_metric_ratio"])
    assert geometry["bound_um2"] == pytest.approx([dl**2 / 4] * 3)
    # Omega_I at phi = 0 (symmetric double wells: the atom is spread over both sites at -+ dl/4, variance just below
    # (dl/4)^2 = 0.0368 um^2) is the band's MLWF variance, the Wannier spread of bands.nc
    assert geometry["omega_I_phi0_um2"] == pytest.approx(lohse.wannier_spread.isel(phi_w=0).values.tolist())
    assert 0.8 * (dl / 4) ** 2 < geometry["omega_I_phi0_um2"][0] < (dl / 4) ** 2
    # the cycle average from the refined mesh agrees with the uniform mesh's to a few % (the peaks at phi = 0 and pi
    # are under-sampled on the uniform one)
    uniform = lohse.wannier_spread.isel(phi_w=slice(0, -1)).mean("phi_w").values
    np.testing.assert_allclose(geometry["omega_I_mean_um2"], uniform, rtol=0.05)
    assert geometry["omega_I_populated_um2"] == geometry["omega_I_phi0_um2"][0]
    assert max(geometry["metric_inequality_violation"]) < 0.01 < max(geometry["metric_inequality_violation_uniform"])


@pytest.mark.parametrize("cycles", [0, 3])
def test_centre_of_mass_scatter_of_independent_atoms_in_a_band_mixture(cycles):
    from atompump.theory.spread import com_quantum_scatter

    # N independent atoms, each in band 1 (C = +1, p = 0.8) or band 2 (C = -1), position variance Omega_I = 0.03 um^2
    # about its band's Wannier centre, pumped by C dl per cycle: the shot-to-shot scatter of their centre of mass
    rng = np.random.default_rng(12)
    n_atoms, n_shots, omega_i, dl = 400, 4000, 0.03, 0.767
    chern = np.where(rng.random((n_shots, n_atoms)) < 0.8, 1, -1)
    x = rng.normal(0.0, np.sqrt(omega_i), (n_shots, n_atoms)) + cycles * dl * chern
    measured = x.mean(axis=1).std(ddof=1)
    variance_c = 1 - 0.6**2  # sum p C^2 - (sum p C)^2
    expected = com_quantum_scatter(omega_i, n_atoms, cycles=cycles, dl_um=dl, displacement_spread_dl2=variance_c)
    assert expected == pytest.approx(np.sqrt((omega_i + (cycles * dl) ** 2 * variance_c) / n_atoms), rel=1e-12)
    assert measured == pytest.approx(expected, rel=4 * np.sqrt(1 / (2 * n_shots)))  # 4 sigma of a sample std
    with pytest.raises(ValueError, match="atom number must be positive"):
        com_quantum_scatter(omega_i, 0)


def test_report_rows_put_the_quantum_scatter_beside_the_measured_one():
    import xarray as xr

    from atompump.stages.report import quantum_spread_rows

    theory = {"dl_um": 0.767, "displacement_variance_dl2": 0.0,
              "quantum_geometry": {"omega_I_populated_um2": 0.03, "omega_I_mean_um2": [0.0035], "bound_ratio": [4.3],
                                   "metric_inequality_violation": [1e-7, -0.06],
                                   "metric_inequality_violation_uniform": [0.045, -0.06]}}
    com = xr.Dataset({"used": ("shot", [True, True, True, False]), "atom_number": ("shot", [2900.0, 3000, 3300, 10]),
                      "cycle": ("shot", [0, 1, 2, 3])})
    fit = xr.Dataset({"residual_um": ("shot", [0.1, -0.1, 0.2, np.nan])})
    rows = {name: value for name, value, _ in quantum_spread_rows(theory, com, fit)}
    label = ("expected shot-to-shot scatter of the centre of mass from quantum fluctuations, sqrt(Omega_I / N), "
             "N = 3000 atoms (median)")
    assert rows[label] == f"{np.sqrt(0.03 / 3000):.3g}"
    assert rows["measured shot-to-shot scatter of the centre of mass (RMS residual of the fit)"] == pytest.approx(
        np.sqrt(0.06 / 3))
    assert rows["<Omega_I>_phi * G_phiphi / (C^2 dl^2 / 4), lowest band (bound: >= 1)"] == 4.3
    assert quantum_spread_rows({"dl_um": 0.767}, com, fit) == []  # an older theory.json: nothing to show


def test_curvature_figure_draws_the_refined_cells(lohse):
    from atompump.report.theory_figures import berry_curvature_figure

    fig = berry_curvature_figure(lohse)
    mesh = fig.axes[0].collections[0]
    assert mesh.get_array().size == lohse.sizes["k_fine"] * lohse.sizes["phi_fine"]
    assert fig.axes[0].get_xlim() == pytest.approx((-0.5, 1.5), abs=0.01)  # both peaks (phi = 0, pi) inside
    # the map shows the refined curvature itself: its largest value is the band's peak Omega / dl
    assert np.abs(mesh.get_array()).max() == pytest.approx(
        np.abs(lohse.berry_curvature_fine.sel(band=1)).max() / lohse.attrs["dl_um"])
