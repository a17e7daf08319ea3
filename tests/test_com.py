"""Centre of mass: exact recovery, calibrated uncertainties with seeded photon noise, rejection reasons."""

import numpy as np
import pytest

from atompump.com import centre_of_mass
from atompump.reduce import optical_density
from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity


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
