"""Centre of mass: exact recovery, calibrated uncertainties with seeded photon noise, rejection reasons."""

import numpy as np
import pytest

from atompump.com import centre_of_mass, cramer_rao_bound, fit_profile, numerical_jacobian
from atompump.reduce import optical_density, photon_noise_od_variance
from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity
from atompump.reasons import RejectCause
from atompump.stages.com import atom_number_outliers


def noisy_od(rng, *, centre, n_atoms=3000, probe=3000.0, shape=(64, 128), sigma=(6.0, 6.0), pixel=1.0):
    od = 0.2907 * gaussian_column_density(shape, atom_number=n_atoms, centre_um=centre, sigma_um=sigma,
                                          pixel_size_um=pixel)
    i_in = np.full(shape, probe)
    cam = dict(rng=rng, gain=1.0, offset_counts=100.0, read_noise_counts=4.0)
    r = optical_density(camera_counts(transmitted_intensity(i_in, od), **cam), camera_counts(i_in, **cam),
                        camera_counts(np.zeros(shape), **cam))
    return r


@pytest.mark.parametrize("centre", [(60.0, 30.0), (63.37, 31.5), (70.81, 25.2), (58.5, 30.0), (66.93, 30.0)])
def test_noiseless_gaussian_centre_is_exact(centre):
    od = 0.29 * gaussian_column_density((64, 128), atom_number=3000, centre_um=centre, sigma_um=(5.0, 4.0),
                                        pixel_size_um=1.0)
    result = centre_of_mass(od, pixel_size_um=1.0)
    # sub-pixel positions: the pixel-snapped window of old was biased by 5 nm; the fractional window by < 1 nm
    assert result.x_um == pytest.approx(centre[0], abs=1e-3)
    assert result.reject_reason == ""


def test_pixel_size_and_pump_axis_y():
    # 200 rows x 64 columns of 0.5 um: the cloud sits at y = 51.3 um, pumped along the rows
    od = 0.29 * gaussian_column_density((200, 64), atom_number=3000, centre_um=(15.0, 51.3), sigma_um=(4.0, 9.0),
                                        pixel_size_um=0.5)
    result = centre_of_mass(od, pixel_size_um=0.5, pump_axis="y")
    assert result.x_um == pytest.approx(51.3, abs=2e-3)


@pytest.mark.parametrize("probe, n_atoms", [(3000.0, 3000), (300.0, 3000), (3000.0, 500)])
def test_uncertainty_matches_scatter_under_photon_noise(probe, n_atoms):
    rng = np.random.default_rng(2024)
    xs, errs = [], []
    for _ in range(150):
        r = noisy_od(rng, centre=(63.3, 31.5), n_atoms=n_atoms, probe=probe)
        c = centre_of_mass(r.od, pixel_size_um=1.0, valid=r.valid)
        xs.append(c.x_um)
        errs.append(c.x_err_um)
    xs, errs = np.array(xs), np.array(errs)
    # unbiased within 3 standard errors, and the quoted error matches the scatter within 15 %
    assert abs(xs.mean() - 63.3) < 3 * xs.std() / np.sqrt(xs.size)
    assert xs.std() / errs.mean() == pytest.approx(1.0, abs=0.15)


def test_masked_cloud_is_flagged():
    rng = np.random.default_rng(1)
    r = noisy_od(rng, centre=(63.0, 31.5))
    valid = r.valid.copy()
    valid[:, 55:70] = False
    c = centre_of_mass(r.od, pixel_size_um=1.0, valid=valid)
    assert "masked" in c.reject_reason


def test_cloud_at_edge_is_flagged_and_empty_image_fails():
    od = 0.29 * gaussian_column_density((32, 64), atom_number=3000, centre_um=(2.0, 16.0), sigma_um=(5.0, 5.0),
                                        pixel_size_um=1.0)
    assert "edge" in centre_of_mass(od, pixel_size_um=1.0).reject_reason
    assert "no valid pixels" in centre_of_mass(np.full((8, 8), np.nan), pixel_size_um=1.0).reject_reason


def test_bad_arguments():
    with pytest.raises(ValueError, match="pixel_size_um must be positive"):
        centre_of_mass(np.zeros((8, 8)), pixel_size_um=0)
    with pytest.raises(ValueError, match="pump_axis must be 'x' or 'y'"):
        centre_of_mass(np.zeros((8, 8)), pixel_size_um=1, pump_axis="z")


# --- the fit estimator, the Cramer-Rao bound, clouds of any shape ---------------------------------------------------


SHAPE = (48, 96)
YY, XX = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)


def gaussian_od(x0, y0=23.5, peak=1.0, sx=5.0, sy=4.0):
    return peak * np.exp(-((XX - x0) ** 2 / (2 * sx**2) + (YY - y0) ** 2 / (2 * sy**2)))


def flat_top_od(x0, y0=23.5, peak=0.8, radius=9.0, edge=1.0):
    """A uniform disk with soft edges (an in-situ Mott plateau), not a Gaussian."""
    return peak / (1.0 + np.exp((np.hypot(XX - x0, YY - y0) - radius) / edge))


def asymmetric_od(x0, y0=23.5):
    """A main cloud with a tail on one side: its centre of mass is not its peak."""
    return gaussian_od(x0, y0, peak=0.8, sx=4.0) + gaussian_od(x0 + 7.0, y0, peak=0.3, sx=6.0)


def photon_noise_shot(rng, od, probe=2000.0):
    i_in = np.full(SHAPE, probe)
    cam = dict(rng=rng, gain=1.0, offset_counts=100.0, read_noise_counts=4.0)
    return optical_density(camera_counts(transmitted_intensity(i_in, od), **cam), camera_counts(i_in, **cam),
                           camera_counts(np.zeros(SHAPE), **cam))


def image_crb(model, params, index):
    """Cramer-Rao bound of params[index] from every pixel of the image (independent of the estimators)."""
    variance = photon_noise_od_variance(model(np.asarray(params, float)), probe_counts=2000.0, read_noise_counts=4.0)
    return cramer_rao_bound(numerical_jacobian(model, params), variance.ravel(), index=index)


def estimates(rng, make_od, x0s, model="gaussian", n=120):
    rows = []
    for i in range(n):
        x0 = x0s[i % len(x0s)]
        r = photon_noise_shot(rng, make_od(x0))
        m = centre_of_mass(r.od, pixel_size_um=1.0, valid=r.valid, variance_factor=r.variance_factor)
        f = fit_profile(r.od, pixel_size_um=1.0, valid=r.valid, variance_factor=r.variance_factor, model=model,
                        moment=m)
        assert m.reject_reason == "" and f.reject_reason == ""
        rows.append((x0, m.x_um, m.x_err_um, f.x_um, f.x_err_um, f.crb_um))
    return np.array(rows).T


@pytest.fixture(scope="module")
def gaussian_run():
    return estimates(np.random.default_rng(31), gaussian_od, [47.3], n=150)


def test_fit_is_unbiased_calibrated_and_reaches_the_image_cramer_rao_bound(gaussian_run):
    x0, xm, em, xf, ef, crb = gaussian_run
    assert abs(xf.mean() - 47.3) < 3 * xf.std() / np.sqrt(xf.size)
    assert xf.std() / ef.mean() == pytest.approx(1.0, abs=0.15)  # quoted error matches the scatter
    assert ef.mean() == pytest.approx(crb.mean(), rel=0.02)  # the fit's error is the bound at the fitted model

    def model(p):
        return gaussian_od(p[0], p[1], p[2], p[3], p[4]) + p[5]

    bound = image_crb(model, [47.3, 23.5, 1.0, 5.0, 4.0, 0.0], index=0)
    efficiency_fit = bound**2 / xf.var()
    efficiency_moment = bound**2 / xm.var()
    assert efficiency_fit > 0.8  # noise-weighted profile: almost all the image's information
    assert efficiency_moment < efficiency_fit
    assert xm.std() / em.mean() == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("make_od, model", [(flat_top_od, "thomas_fermi"), (flat_top_od, "gaussian"),
                                            (asymmetric_od, "gaussian"), (asymmetric_od, "bimodal")])
def test_clouds_of_any_shape_give_displacements_and_calibrated_errors(make_od, model):
    rng = np.random.default_rng(32)
    x0, xm, em, xf, ef, _ = estimates(rng, make_od, [40.2, 43.0], model=model, n=80)
    for x, err in ((xm, em), (xf, ef)):
        shift = x[x0 == 43.0].mean() - x[x0 == 40.2].mean()
        se = np.hypot(x[x0 == 43.0].std(), x[x0 == 40.2].std()) / np.sqrt(40)
        assert shift == pytest.approx(2.8, abs=3.5 * se + 0.005)
        offsets = x - x0
        pulls = (offsets - offsets.mean()) / err
        assert pulls.std() == pytest.approx(1.0, abs=0.2)


def test_moment_is_the_true_centre_of_mass_of_an_asymmetric_cloud():
    od = asymmetric_od(40.0)
    profile = od.sum(axis=0)
    true_com = (np.arange(SHAPE[1]) * profile).sum() / profile.sum()
    assert true_com == pytest.approx(40.0 + 7.0 * 0.3 * 6.0 / (0.8 * 4.0 + 0.3 * 6.0), abs=0.01)
    result = centre_of_mass(od, pixel_size_um=1.0, window_margin=1.0)
    assert result.x_um == pytest.approx(true_com, abs=0.02)


def test_cramer_rao_bound_closed_form():
    # 1D Gaussian of amplitude A and width s on a fine grid, white noise v, only the centre unknown:
    # F = sum (A (x - c)/s^2 exp(-(x-c)^2 / 2 s^2))^2 / v = A^2 sqrt(pi) / (2 s v)
    x = np.arange(400.0)
    a, c, s, v = 2.0, 200.3, 10.0, 0.01
    jac = a * (x - c) / s**2 * np.exp(-((x - c) ** 2) / (2 * s**2))
    assert cramer_rao_bound(jac[None, :], np.full(x.size, v)) == pytest.approx(np.sqrt(2 * s * v / (a**2 * np.sqrt(np.pi))),
                                                                                 rel=1e-6)
    # a nuisance parameter that is not orthogonal to the centre raises the bound; a singular matrix gives inf
    tilt = np.vstack([jac, x / 400.0])
    assert cramer_rao_bound(tilt, np.full(x.size, v)) > cramer_rao_bound(jac[None, :], np.full(x.size, v))
    assert cramer_rao_bound(np.vstack([jac, jac]), np.full(x.size, v)) == np.inf


def test_failed_fit_is_a_reason_not_a_crash():
    rng = np.random.default_rng(5)
    od = rng.normal(0, 0.02, SHAPE)
    fit = fit_profile(od, pixel_size_um=1.0, model="bimodal")
    assert fit.reject_reason and np.isnan(fit.x_um) or fit.reject_reason.startswith("profile fit failed")
    with pytest.raises(ValueError, match="profile model must be one of"):
        fit_profile(gaussian_od(40.0), pixel_size_um=1.0, model="lorentzian")


def test_atom_number_outliers_are_rejected_with_their_reason():
    rng = np.random.default_rng(6)
    n = rng.normal(3000, 100, 200)
    n[[10, 50]] = [1500, 4200]
    used = np.ones(200, bool)
    used[50] = False  # already rejected: keeps its own reason
    reasons = atom_number_outliers(n, used, max_mads=5.0)
    assert list(reasons) == [10]  # shot 50 was rejected already: it keeps its own reason
    assert "atom number 1500 is an outlier: -14.7 robust standard deviations" in reasons[10] and "com.atom_number_outlier_mads = 5" in reasons[10]
    assert reasons[10].cause == RejectCause.ATOM_NUMBER_OUTLIER
    assert atom_number_outliers(n, used, max_mads=None) == {}
    # the MAD of a few shots is too uncertain for a 5-sigma cut: no cut below 20 used shots
    assert atom_number_outliers(n[:19], used[:19], max_mads=5.0) == {}
