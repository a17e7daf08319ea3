"""The imaging chain, step by step, against closed forms: PSF and OTF, blur and pixelisation, saturated
absorption, probe fringes, and the camera's noise (Poisson, EMCCD excess noise, read noise, offset)."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import j0, ndtr

from atompump.errors import ParameterError
from atompump.reduce import optical_density
from atompump.simulate.imaging import (
    CloudImager,
    LineProfile,
    PointSpreadFunction,
    ProbeBeam,
    airy_otf,
    airy_psf,
    camera_counts,
    dark_frame,
    gaussian_psf_sigma,
    transmitted_intensity,
    transmitted_intensity_fast,
)

LAMBDA, NA = 0.780, 0.3


# ----------------------------------------------------------------------------------------------- optics
def test_airy_psf_is_normalised_with_its_first_zero_at_0p61_lambda_over_na():
    total, _ = integrate.quad(lambda r: 2 * np.pi * r * airy_psf(r, wavelength_um=LAMBDA, numerical_aperture=NA),
                              0, 400, limit=2000)
    assert total == pytest.approx(1.0, abs=2e-3)  # the tail beyond 400 um holds ~1e-3
    r = np.linspace(1.4, 1.8, 40001)
    psf = airy_psf(r, wavelength_um=LAMBDA, numerical_aperture=NA)
    assert r[np.argmin(psf)] == pytest.approx(3.8317 / (2 * np.pi) * LAMBDA / NA, abs=1e-4)  # 0.6098 lambda/NA
    assert airy_psf(0.0, wavelength_um=LAMBDA, numerical_aperture=NA) == pytest.approx(np.pi * NA**2 / LAMBDA**2)


def test_airy_otf_is_the_fourier_transform_of_the_psf():
    for f in (0.1, 0.3, 0.6):
        hankel, _ = integrate.quad(lambda r, f=f: 2 * np.pi * r * airy_psf(r, wavelength_um=LAMBDA,
                                                                           numerical_aperture=NA)
                                   * j0(2 * np.pi * f * r), 0, 60, limit=4000)
        assert airy_otf(f, wavelength_um=LAMBDA, numerical_aperture=NA) == pytest.approx(hankel, abs=5e-3)
    assert airy_otf(0.0, wavelength_um=LAMBDA, numerical_aperture=NA) == 1.0
    assert airy_otf(2 * NA / LAMBDA, wavelength_um=LAMBDA, numerical_aperture=NA) == pytest.approx(0.0, abs=1e-12)


def test_gaussian_psf_width_and_blur_of_a_cloud():
    sigma_psf = gaussian_psf_sigma(wavelength_um=LAMBDA, numerical_aperture=NA)
    assert sigma_psf == pytest.approx(0.21 * LAMBDA / NA)
    psf = PointSpreadFunction("gaussian", LAMBDA, NA)
    imager = CloudImager(LineProfile.gaussian(1.0), transverse_sigma_um=0.8, psf=psf, pixel_size_um=0.4)
    image = imager.column_density((96, 128), centre_um=(25.13, 19.71), atom_number=1000.0)
    x, y = np.arange(128) * 0.4, np.arange(96) * 0.4
    px, py = image.sum(0), image.sum(1)
    mx, my = px @ x / px.sum(), py @ y / py.sum()
    assert (mx, my) == pytest.approx((25.13, 19.71), abs=1e-9)
    # variance of the pixel-averaged, blurred profile: sigma^2 + sigma_psf^2 + p^2/12
    assert px @ (x - mx) ** 2 / px.sum() == pytest.approx(1.0 + sigma_psf**2 + 0.4**2 / 12, rel=1e-6)
    assert py @ (y - my) ** 2 / py.sum() == pytest.approx(0.64 + sigma_psf**2 + 0.4**2 / 12, rel=1e-6)


@pytest.mark.parametrize("kind", ["airy", "gaussian", "none"])
@pytest.mark.parametrize("shift", [0.0, 0.37, 0.5])
def test_pixelisation_conserves_atoms_and_centre(kind, shift):
    rng = np.random.default_rng(3)
    positions = np.sort(rng.uniform(-8.0, 8.0, 200))  # a lumpy cloud, like a lattice density
    profile = LineProfile.from_density(positions, rng.uniform(0.0, 1.0, 200))
    imager = CloudImager(profile, transverse_sigma_um=3.0, psf=PointSpreadFunction(kind, LAMBDA, NA),
                         pixel_size_um=0.5)
    centre = (50.0 + shift, 50.0 - shift)
    _, _, box = imager.box(centre)
    assert box.sum() * 0.25 == pytest.approx(1.0, rel=1e-10)  # the box holds every atom
    image = imager.column_density((200, 200), centre_um=centre, atom_number=3000.0)
    assert image.sum() * 0.25 == pytest.approx(3000.0, rel=1e-10)
    x = np.arange(200) * 0.5
    com = image.sum(0) @ x / image.sum()
    if kind == "none":  # without blur each point mass lands on its pixel's centre
        expected = np.rint((profile.positions_um + centre[0]) / 0.5) * 0.5 @ profile.weights
        assert com == pytest.approx(expected, abs=1e-9)
    else:
        tolerance = 1e-2 if kind == "airy" else 1e-9  # Airy tails wrap around the box
        assert com == pytest.approx(centre[0], abs=tolerance)


def test_pump_axis_y_transposes_and_frame_clips():
    imager = CloudImager(LineProfile.gaussian(2.0), transverse_sigma_um=1.0, psf=PointSpreadFunction("none"),
                         pixel_size_um=1.0)
    along_x = imager.column_density((40, 60), centre_um=(30.0, 20.0), atom_number=100.0, pump_axis="x")
    along_y = imager.column_density((60, 40), centre_um=(30.0, 20.0), atom_number=100.0, pump_axis="y")
    np.testing.assert_allclose(along_y, along_x.T, atol=1e-12)
    edge = imager.column_density((40, 60), centre_um=(0.0, 20.0), atom_number=100.0)
    # pixel 0 covers [-0.5, 0.5) um: the frame holds the atoms at x > -0.5 um
    assert edge.sum() == pytest.approx(100.0 * ndtr(0.5 / 2.0), rel=1e-4)  # (a finely sampled Gaussian)


# ----------------------------------------------------------------------------------------------- absorption
@pytest.mark.parametrize("isat", [None, 500.0, 4000.0])
def test_saturation_inversion_round_trips_through_the_reduction(isat):
    od = np.linspace(0.0, 4.0, 41)[None, :] * np.ones((3, 1))
    i_in = np.array([[800.0], [2500.0], [9000.0]]) * np.ones((1, 41))
    i_out = transmitted_intensity(i_in, od, alpha=1.3, isat_counts=isat)
    # closed form: alpha ln(I_in/I_out) + (I_in - I_out)/I_sat = OD
    lhs = 1.3 * np.log(i_in / i_out) + (0.0 if isat is None else (i_in - i_out) / isat)
    np.testing.assert_allclose(lhs, od, atol=1e-9)
    dark = np.full_like(i_in, 100.0)
    result = optical_density(i_out + dark, i_in + dark, dark, alpha=1.3, isat_counts=isat, min_probe_counts=1.0)
    np.testing.assert_allclose(result.od, od, atol=1e-8)


@pytest.mark.parametrize("isat", [None, 3000.0])
def test_series_inversion_in_the_wings_matches_the_exact_one(isat):
    od = np.r_[0.0, np.geomspace(1e-6, 0.3, 60)]
    i_in = np.full_like(od, 2500.0)
    exact = transmitted_intensity(i_in, od, alpha=1.2, isat_counts=isat)
    fast = transmitted_intensity_fast(i_in, od, alpha=1.2, isat_counts=isat)
    np.testing.assert_allclose(fast, exact, rtol=2.1e-5)
    assert np.array_equal(fast[od >= 0.05], exact[od >= 0.05])
    assert fast[0] == 2500.0


# ----------------------------------------------------------------------------------------------- the probe
def test_probe_envelope_and_fringe_statistics():
    rng = np.random.default_rng(11)
    probe = ProbeBeam.with_random_fringes((200, 240), peak_counts=2000.0, waist_px=80.0, amplitude=0.05, count=4,
                                          period_px=(7.0, 25.0), rng=rng)
    assert np.sum(np.square(probe.amplitudes)) / 2 == pytest.approx(0.05**2)
    env = probe.envelope
    assert env.max() == pytest.approx(2000.0, rel=1e-3)
    # centre at pixel (99.5, 119.5): exp(-2 r^2 / w^2)
    assert env[100, 200] / env[100, 120] == pytest.approx(np.exp(-2 * (80.5**2 - 0.5**2) / 80**2), rel=1e-5)
    fringes = probe.fringes(rng.uniform(0, 2 * np.pi, 4))
    assert fringes.std() == pytest.approx(0.05, rel=0.1)
    # OD residual between atoms and probe frames whose phases differ by N(0, s^2)
    s = 0.4
    residual = []
    for _ in range(60):
        theta = rng.uniform(0, 2 * np.pi, 4)
        atoms = probe.intensity(theta)
        ref = probe.intensity(theta + rng.normal(0, s, 4))
        residual.append(np.log(ref / atoms).ravel())
    expected = np.sum(np.square(probe.amplitudes)) * (1 - np.exp(-s**2 / 2))
    assert np.var(np.concatenate(residual)) == pytest.approx(expected, rel=0.1)


def test_probe_power_scales_the_frame():
    probe = ProbeBeam((10, 12), 1000.0)
    np.testing.assert_allclose(probe.intensity(np.array([]), power=1.02), 1020.0, rtol=1e-6)


# ----------------------------------------------------------------------------------------------- the camera
@pytest.mark.parametrize("model, excess", [("poisson", 1.0), ("poisson", 2.0), ("gaussian", 1.0), ("gaussian", 2.0),
                                           ("fast", 1.0), ("fast", 2.0)])
def test_camera_noise_variance_with_gain_excess_noise_and_read_noise(model, excess):
    rng = np.random.default_rng(2024)
    mean, gain, read = 1200.0, 2.5, 6.0
    counts = camera_counts(np.full((400, 400), mean), rng=rng, gain=gain, offset_counts=150.0,
                           read_noise_counts=read, excess_noise_factor=excess, noise_model=model).astype(float)
    assert counts.mean() == pytest.approx(mean + 150.0, abs=0.3)
    expected = excess * gain * mean + read**2 + 1.0 / 12.0
    assert counts.var() == pytest.approx(expected, rel=0.02)  # 5 sigma of the sample variance


@pytest.mark.parametrize("model", ["poisson", "gaussian", "fast"])
def test_dark_frames_hold_offset_and_read_noise_and_the_camera_clips(model):
    rng = np.random.default_rng(5)
    for dark in (camera_counts(np.zeros((300, 300)), rng=rng, offset_counts=100.0, read_noise_counts=4.0,
                               noise_model=model),
                 dark_frame((300, 300), rng=rng, offset_counts=100.0, read_noise_counts=4.0, noise_model=model)):
        dark = dark.astype(float)
        assert dark.mean() == pytest.approx(100.0, abs=0.05)
        assert dark.var() == pytest.approx(16.0 + 1 / 12, rel=0.03)
    assert np.all(dark_frame((2, 3), rng=rng, offset_counts=7.4, noise_model="none") == 7)
    bright = camera_counts(np.full((4, 4), 1e6), rng=rng, full_well_counts=4095)
    assert bright.dtype == np.uint16 and np.all(bright == 4095)
    exact = camera_counts(np.full((2, 2), 10.4), rng=rng, offset_counts=3.0, noise_model="none")
    assert np.all(exact == 13)


def test_emccd_register_output_is_gamma_distributed():
    rng = np.random.default_rng(8)
    counts = camera_counts(np.full((500, 500), 3.0), rng=rng, offset_counts=0.0, read_noise_counts=0.0,
                           excess_noise_factor=2.0).astype(float)
    # one input electron gives an exponential output: P(0 counts | n = 1) > 0, and Var = 2 * mean (+ rounding)
    assert counts.mean() == pytest.approx(3.0, rel=0.01)
    assert counts.var() == pytest.approx(6.0 + 1 / 12, rel=0.03)


def test_bad_imaging_input():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="noise_model must be one of"):
        camera_counts(np.ones((2, 2)), rng=rng, noise_model="ideal")
    with pytest.raises(ValueError, match="excess_noise_factor 1 .* or 2"):
        camera_counts(np.ones((2, 2)), rng=rng, excess_noise_factor=1.5)
    with pytest.raises(ValueError, match="camera gain must be positive"):
        camera_counts(np.ones((2, 2)), rng=rng, gain=0.0)
    with pytest.raises(ParameterError, match="^kind must be 'airy', 'gaussian' or 'none'"):  # its own parameter
        PointSpreadFunction("lorentz")
    with pytest.raises(ParameterError, match=r"^numerical_aperture must be in \(0, 1\)"):
        PointSpreadFunction("airy", 0.78, 1.2)
    with pytest.raises(ValueError, match="non-negative 1D array"):
        LineProfile.from_density(np.arange(3.0), np.array([1.0, -1.0, 0.5]))
