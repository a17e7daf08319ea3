"""Clouds of any shape and size are located and measured (ring, elongated and lumpy, bimodal, two clouds, a cloud
filling most of the frame, real in-situ shapes); shots are rejected only for physical reasons; no step fails by not
converging; the template estimator reaches the Cramér–Rao bound of shapes the profile models do not describe."""

import numpy as np
import pytest
from scipy import ndimage
from test_com_noise import _pooled, _template

from atompump.com import centre_of_mass, cramer_rao_bound, find_cloud, locate_cloud, numerical_jacobian
from atompump.io.formats import open_image
from atompump.reduce import locate_run_cloud

SHAPE = (96, 160)
YY, XX = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)


def ring(x0, y0=48.0, radius=28.0, width=3.0, peak=0.8):
    return peak * np.exp(-0.5 * ((np.hypot(XX - x0, YY - y0) - radius) / width) ** 2)


def lumpy(x0, y0=48.0):
    """An elongated cloud with density lumps (a lattice-loaded in-situ cloud)."""
    envelope = np.exp(-0.5 * ((XX - x0) / 25.0) ** 2 - 0.5 * ((YY - y0) / 4.0) ** 2)
    return 1.2 * envelope * (0.6 + 0.4 * np.cos(2 * np.pi * (XX - x0) / 12.0) ** 2)


def bimodal(x0, y0=48.0):
    condensate = 1.0 * np.clip(1 - ((XX - x0) / 12.0) ** 2 - ((YY - y0) / 8.0) ** 2, 0, None) ** 1.5
    return condensate + 0.25 * np.exp(-0.5 * ((XX - x0) / 20.0) ** 2 - 0.5 * ((YY - y0) / 14.0) ** 2)


def two_clouds(x0, y0=48.0):
    return (np.exp(-0.5 * ((XX - x0 + 25) / 6.0) ** 2 - 0.5 * ((YY - y0) / 6.0) ** 2)
            + 0.7 * np.exp(-0.5 * ((XX - x0 - 25) / 6.0) ** 2 - 0.5 * ((YY - y0) / 6.0) ** 2))


def wide(x0, y0=48.0):
    """A flat-topped cloud 130 of the frame's 160 columns wide and 70 of its 96 rows tall."""
    return ndimage.gaussian_filter(0.6 * np.clip(1 - ((XX - x0) / 62.0) ** 2 - ((YY - y0) / 33.0) ** 2, 0, None)
                                   ** 0.5, 1.5)


def first_moment(od):
    profile = od.sum(axis=0)
    return float((np.arange(od.shape[1]) * profile).sum() / profile.sum())


@pytest.mark.parametrize("make", [ring, lumpy, bimodal, two_clouds, wide])
def test_every_shape_is_located_and_measured(make):
    rng = np.random.default_rng(10)
    # truths: the first moment of the sampled image (the moment's), and the shift of the shape (the template's: a
    # shape sampled at points has a first moment that wobbles with its sub-pixel position)
    shots = [(make(x) + rng.normal(0, 0.05, SHAPE), x) for x in 80.0 + rng.normal(0, 1.5, 40)]
    template = _template(shots[:20])
    pooled = _pooled(shots[:20])
    rows = []
    for i, (od, x) in enumerate(shots):
        c = locate_cloud(od, pixel_size_um=1.0, variance_factor=np.ones(SHAPE), template=template, shot=str(i),
                         pooled_noise=pooled)
        assert c.reject_reason == "" and c.moment.converged, make.__name__
        rows.append((c.moment.x_um - first_moment(make(x)), c.moment.x_err_um, c.template.x_um - x,
                     c.template.x_err_um))
    dm, em, dt, et = np.array(rows).T
    # the first moment is the centre of mass of any shape: unbiased; the template follows it up to a constant
    assert abs(dm.mean()) < 4 * dm.std() / np.sqrt(dm.size) + 0.01, make.__name__
    assert np.std(dt - dt.mean()) / np.sqrt(np.mean(et**2)) == pytest.approx(1.0, abs=0.3), make.__name__
    assert np.sqrt(np.mean(et**2)) <= np.sqrt(np.mean(em**2)), make.__name__  # at least as precise


def test_real_in_situ_shapes_are_measured(repo_root):
    # three real in-situ OD images of an elongated, lumpy BEC (tests/data/real/oqtant-insitu, CC0), OD input
    for name in ("NoPatternExpt_rep_0", "LongOnlyExpt_rep_0", "ShortOnlyExpt_rep_0"):
        with open_image(repo_root / f"tests/data/real/oqtant-insitu/{name}.txt") as image:
            od = image.read("it_plot")
        c = locate_cloud(od, pixel_size_um=0.344, variance_factor=np.ones(od.shape))
        assert c.reject_reason == "", name
        assert 200 * 0.344 < c.moment.x_um < 300 * 0.344, name  # the cloud's centre, not a fringe
        # the first moment over this wide window feels the image's slow background variations: a larger error
        assert 0 < c.fit.x_err_um < 1.0 and c.fit.x_err_um < c.moment.x_err_um < 5.0, name
        roi, atoms = locate_run_cloud(od)
        assert atoms[70:76, 150:350].all(), name  # the whole elongated cloud, lumps and wings


def test_only_physical_reasons_reject_a_shot():
    rng = np.random.default_rng(11)
    noise = rng.normal(0, 0.05, SHAPE)
    assert centre_of_mass(noise, pixel_size_um=1.0).reject_reason.startswith("no cloud signal: smoothed peak OD")
    edge = ring(20.0) + noise
    assert centre_of_mass(edge, pixel_size_um=1.0).reject_reason == "cloud cut by the left edge of the camera frame"
    assert centre_of_mass(edge, pixel_size_um=1.0, frame_edges=(True, True, False, True)).reject_reason == (
        "cloud extends beyond the left edge of the region of interest; widen imaging.roi")
    masked = np.ones(SHAPE, bool)
    masked[:, 74:86] = False  # a stripe without probe light through the cloud
    reason = centre_of_mass(ring(80.0) + noise, pixel_size_um=1.0, valid=masked).reject_reason
    assert "of the cloud is masked: no probe light or a saturated camera there" in reason
    with pytest.raises(ValueError, match="pump_axis must be 'x' or 'y'"):
        locate_cloud(noise, pixel_size_um=1.0, pump_axis="z")
    with pytest.raises(ValueError, match="estimator must be one of"):
        locate_cloud(noise, pixel_size_um=1.0, estimator="median")


def test_a_faint_shot_is_measured_over_the_run_region():
    rng = np.random.default_rng(12)
    faint = ring(80.0, peak=0.05) + rng.normal(0, 0.1, SHAPE)
    alone = find_cloud(faint, np.ones(SHAPE, bool))
    assert alone.reject_reason.startswith("no cloud signal")  # too faint to see pixel by pixel
    expected = ring(80.0) > 0.01
    support = find_cloud(faint, np.ones(SHAPE, bool), expected=expected, expected_shape=ring(80.0))
    assert support.source == "run" and support.reject_reason == ""
    c = centre_of_mass(faint, pixel_size_um=1.0, expected=expected, variance_factor=np.ones(SHAPE))
    assert c.reject_reason == "" and abs(c.x_um - 80.0) < 3 * c.x_err_um
    empty = rng.normal(0, 0.1, SHAPE)
    reason = centre_of_mass(empty, pixel_size_um=1.0, expected=expected, variance_factor=np.ones(SHAPE)).reject_reason
    assert reason.startswith("no cloud signal")


def test_a_window_that_does_not_settle_falls_back_to_a_deterministic_rule():
    od = two_clouds(80.3) + np.random.default_rng(13).normal(0, 0.05, SHAPE)
    settled = centre_of_mass(od, pixel_size_um=1.0)
    stopped = centre_of_mass(od, pixel_size_um=1.0, max_iterations=1)
    assert settled.converged and not stopped.converged
    assert stopped.reject_reason == "" and np.isfinite(stopped.x_um) and np.isfinite(stopped.x_err_um)
    assert stopped == centre_of_mass(od, pixel_size_um=1.0, max_iterations=1)  # the same rule, the same result
    assert stopped.x_um == pytest.approx(settled.x_um, abs=3 * settled.x_err_um)


@pytest.mark.parametrize("make, min_efficiency", [(ring, 0.85), (wide, 0.85)])
def test_template_reaches_the_bound_of_shapes_the_profile_models_miss(make, min_efficiency):
    rng = np.random.default_rng(14)
    sigma = 0.05
    shots = [(make(80.0) + rng.normal(0, sigma, SHAPE), 80.0) for _ in range(120)]
    template = _template(shots[:60])
    x = np.array([locate_cloud(od, pixel_size_um=1.0, variance_factor=np.ones(SHAPE), template=template,
                               shot=str(i)).template.x_um for i, (od, _) in enumerate(shots)])

    def model(p):  # shift along and across, amplitude, offset: the bound of the image itself
        return p[2] * ndimage.shift(make(80.0), (p[1], p[0]), order=3) + p[3]

    bound = cramer_rao_bound(numerical_jacobian(model, [0.0, 0.0, 1.0, 0.0], relative_step=1e-3),
                             np.full(np.prod(SHAPE), sigma**2), index=0)
    assert bound**2 / x.var() > min_efficiency
