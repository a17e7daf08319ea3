"""Optical density: closed forms, the Reinaudi saturation term and its inversion, masks."""

import numpy as np
import pytest

from atompump.reduce import optical_density
from atompump.simulate.imaging import transmitted_intensity


def frames(i_in, i_out, dark=100.0):
    shape = np.shape(i_in)
    return np.asarray(i_out) + dark, np.asarray(i_in) + dark, np.full(shape, dark)


def test_low_intensity_od_is_log_ratio():
    i_in = np.full((4, 5), 2000.0)
    i_out = i_in * np.exp(-np.linspace(0, 3, 20).reshape(4, 5))
    result = optical_density(*frames(i_in, i_out))
    np.testing.assert_allclose(result.od, np.linspace(0, 3, 20).reshape(4, 5), atol=1e-12)
    assert result.valid.all()


@pytest.mark.parametrize("alpha, isat", [(1.0, 500.0), (1.3, 2000.0), (2.0, 150.0)])
def test_saturation_term_inverts_transmitted_intensity(alpha, isat):
    od_true = np.linspace(0.0, 4.0, 30).reshape(5, 6)
    i_in = np.full(od_true.shape, 3000.0)
    i_out = transmitted_intensity(i_in, od_true, alpha=alpha, isat_counts=isat)
    # Reinaudi relation holds for the returned I_out
    np.testing.assert_allclose(alpha * np.log(i_in / i_out) + (i_in - i_out) / isat, od_true, atol=1e-9)
    result = optical_density(*frames(i_in, i_out), alpha=alpha, isat_counts=isat)
    np.testing.assert_allclose(result.od, od_true, atol=1e-9)


def test_pixels_without_probe_light_are_masked():
    i_in = np.full((3, 10), 1000.0)
    i_in[:, :4] = 3.0  # no probe light on the left
    result = optical_density(*frames(i_in, 0.5 * i_in), min_probe_counts=20)
    assert not result.valid[:, :4].any() and result.valid[:, 4:].all()
    assert np.isnan(result.od[:, :4]).all()
    np.testing.assert_allclose(result.od[:, 4:], np.log(2.0))


def test_saturated_camera_pixels_are_masked():
    atoms, probe, dark = frames(np.full((2, 2), 1000.0), np.full((2, 2), 500.0))
    probe[0, 0] = 65535
    result = optical_density(atoms, probe, dark, saturation_counts=65535)
    assert not result.valid[0, 0] and result.valid.sum() == 3


def test_black_pixels_are_clipped_and_flagged():
    i_in = np.full((2, 2), 1000.0)
    i_out = np.array([[500.0, 0.0], [-3.0, 1000.0]])
    result = optical_density(*frames(i_in, i_out))
    assert result.clipped.tolist() == [[False, True], [True, False]]
    assert result.od[0, 1] == pytest.approx(np.log(1000.0))


def test_shape_mismatch_and_bad_parameters():
    with pytest.raises(ValueError, match="one shape"):
        optical_density(np.ones((3, 3)), np.ones((3, 4)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="alpha must be positive"):
        optical_density(np.ones((3, 3)), np.ones((3, 3)), np.zeros((3, 3)), alpha=0)
