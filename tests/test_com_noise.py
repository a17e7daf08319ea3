"""The measured noise model (correlated residual fringes + white noise), the error of a linear estimate under it,
and the calibration of every estimator's error with white and with spatially correlated noise."""

import numpy as np
import pytest
from scipy import ndimage

from atompump.com import cloud_model, locate_cloud, measure_noise, response_variance
from atompump.com.noise import NoiseModel, pool_noise, scaled_noise, white_noise

SHAPE = (96, 160)
YY, XX = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)


def gaussian(x0, y0=48.0, peak=1.0, sx=8.0, sy=5.0):
    return peak * np.exp(-0.5 * ((XX - x0) / sx) ** 2 - 0.5 * ((YY - y0) / sy) ** 2)


def correlated(rng, amplitude, length, white=0.1):
    """White noise plus Gaussian-filtered noise of RMS ``amplitude`` and correlation length ``length`` pixels."""
    smooth = ndimage.gaussian_filter(rng.normal(size=SHAPE), length, mode="wrap")
    return rng.normal(0.0, white, SHAPE) + amplitude * smooth / smooth.std()


def test_response_variance_closed_forms():
    rng = np.random.default_rng(0)
    g = np.zeros(SHAPE)
    g[40:56, 60:100] = rng.normal(size=(16, 40))
    factor = 1.0 + rng.uniform(size=SHAPE)
    # white noise: sum g^2 s^2 f
    assert response_variance(g, white_noise(0.04, factor)) == pytest.approx(0.04 * (g**2 * factor).sum())
    # a correlated part constant over every lag up to the pattern's size: c (sum g)^2 on top of the white part
    c = 0.003
    noise = NoiseModel(0.04, np.full((33, 81), c), factor, 0.04 + c, 10**6)
    expected = 0.04 * (g**2 * factor).sum() + c * g.sum() ** 2
    assert response_variance(g, noise) == pytest.approx(expected, rel=1e-9)


def test_measured_covariance_of_smoothed_white_noise():
    # white noise of variance v smoothed by a Gaussian of width w has C(d) = v exp(-d^2 / (4 w^2)) / (4 pi w^2)
    rng = np.random.default_rng(1)
    w, v = 3.0, 1.0
    image = ndimage.gaussian_filter(rng.normal(0.0, np.sqrt(v), (400, 400)), w, mode="wrap") \
        + rng.normal(0.0, 0.05, (400, 400))
    free = np.ones(image.shape, bool)
    free[150:250, 150:250] = False  # a "cloud" left out
    noise = measure_noise(image, free, max_lag=(12, 12))
    c0 = v / (4 * np.pi * w**2)
    assert noise.white_variance == pytest.approx(0.05**2, rel=0.25)
    for dy, dx in ((0, 0), (0, 3), (4, 0), (6, 6)):
        expected = c0 * np.exp(-(dy**2 + dx**2) / (4 * w**2))
        measured = noise.correlated[12 + dy, 12 + dx] + (noise.white_variance if dy == dx == 0 else 0.0)
        assert measured == pytest.approx(expected + (0.05**2 if dy == dx == 0 else 0.0), rel=0.08)


def _shots(rng, n, noise, *, make=gaussian, x0=80.0, jitter=2.0):
    shots = []
    for _ in range(n):
        x = x0 + rng.normal(0.0, jitter)
        shots.append((make(x) + noise(rng), x))
    return shots


def _pooled(shots):
    """The run's pooled noise, as the template rule computes it."""
    return cloud_model((str(i), od, None, np.ones(SHAPE)) for i, (od, _) in enumerate(shots))[1]


def _template(shots):
    """The run's template, as the template rule computes it (shot ids are the shots' indices)."""
    return cloud_model((str(i), od, None, np.ones(SHAPE)) for i, (od, _) in enumerate(shots))[0]


def _pulls(shots, **kwargs):
    rows = {"moment": [], "fit": [], "template": []}
    for i, (od, x) in enumerate(shots):
        c = locate_cloud(od, pixel_size_um=1.0, variance_factor=np.ones(SHAPE), shot=str(i), **kwargs)
        assert c.reject_reason == ""
        for name, est in (("moment", c.moment), ("fit", c.fit), ("template", c.template)):
            if est is not None:
                rows[name].append((est.x_um - x, est.x_err_um))
    out = {}
    for name, values in rows.items():
        if values:
            d, e = np.array(values).T
            out[name] = (np.std(d - d.mean()) / np.sqrt(np.mean(e**2)), e.std() / e.mean())
    return out


def test_white_noise_errors_are_calibrated_and_do_not_scatter():
    rng = np.random.default_rng(2)
    shots = _shots(rng, 120, lambda r: r.normal(0.0, 0.1, SHAPE))
    pooled = _pooled(shots[:40])
    assert abs(pooled.correlated).max() < 0.1 * pooled.white_variance  # white noise: nothing correlated found
    for kwargs in ({}, {"pooled_noise": pooled}):  # a shot's own estimate, and the run's pooled one
        for name, (ratio, spread) in _pulls(shots, **kwargs).items():
            assert ratio == pytest.approx(1.0, abs=0.15), (name, kwargs.keys())
            # the quoted errors do not scatter by the noise estimate's own noise (the moment's window, built from each
            # shot's cloud region, varies a little from shot to shot, and its error with it)
            assert spread < (0.15 if name == "moment" else 0.08), (name, kwargs.keys())


def test_correlated_noise_errors_are_calibrated_for_every_estimator():
    # residual fringes: correlated noise of 0.05 OD over ~6 pixels on top of 0.1 OD white noise, cloud peak OD 1
    rng = np.random.default_rng(3)
    shots = _shots(rng, 150, lambda r: correlated(r, 0.05, 6.0))
    pooled = _pooled(shots[:40])
    template = _template(shots[:40])
    result = _pulls(shots, pooled_noise=pooled, template=template)
    white = [locate_cloud(od, pixel_size_um=1.0, variance_factor=np.ones(SHAPE), pooled_noise=pooled).moment
             for od, _ in shots[:10]]
    # the errors from independent pixel noise alone would be several times too small
    assert np.mean([m.x_err_um / m.white_err_um for m in white]) > 3.0
    for name, (ratio, _) in result.items():
        assert 0.85 < ratio < 1.25, name


def test_scaled_noise_takes_each_shot_amplitude_from_its_own_pixels():
    rng = np.random.default_rng(4)
    models = []
    for _ in range(10):
        image = correlated(rng, 0.05, 4.0)
        models.append(measure_noise(image, np.ones(SHAPE, bool), max_lag=(20, 30)))
    pooled = pool_noise(models)
    loud = measure_noise(correlated(rng, 0.10, 4.0), np.ones(SHAPE, bool), max_lag=(20, 30))
    scaled = scaled_noise(loud, pooled)
    ly, lx = pooled.max_lag
    assert scaled.correlated[ly, lx + 3] / pooled.correlated[ly, lx + 3] == pytest.approx(4.0, rel=0.15)
    assert scaled.white_variance == loud.white_variance
