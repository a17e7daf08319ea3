"""Fringe removal: with synthetic interference fringes that differ between exposures, the optimal reference brings
the OD noise down to the photon-shot-noise limit; the basis size is chosen automatically."""

import numpy as np
import pytest

from atompump.errors import InputDataError
from atompump.reduce import build_fringe_basis, find_roi, gavish_donoho_rank, grow_box, locate_run_cloud, reduce_shot
from atompump.simulate.imaging import camera_counts

SHAPE = (96, 96)
Y, X = np.mgrid[0 : SHAPE[0], 0 : SHAPE[1]]
ENVELOPE = 3000.0 * np.exp(-((X - 48.0) ** 2 + (Y - 48.0) ** 2) / (2 * 80.0**2))  # Gaussian probe beam
FRINGES = [((0.31, 0.12), 0.06), ((-0.07, 0.23), 0.04)]  # (wave vector per pixel, amplitude): two etalons
READ_NOISE = 4.0
CAM = dict(gain=1.0, offset_counts=100.0, read_noise_counts=READ_NOISE)
ROI = (36, 60, 36, 60)
N_BASIS = 80


def probe_intensity(rng):
    """Probe light of one exposure: intensity drift and fringes whose phases move between exposures."""
    light = ENVELOPE * (1.0 + 0.03 * rng.normal())
    pattern = 1.0
    for (kx, ky), amplitude in FRINGES:
        pattern = pattern + amplitude * np.cos(kx * X + ky * Y + rng.uniform(0, 2 * np.pi))
    return light * pattern


def cloud_od(peak=1.0, centre=(48.0, 48.0), sigma=3.0):
    return peak * np.exp(-((X - centre[0]) ** 2 + (Y - centre[1]) ** 2) / (2 * sigma**2))


def shot(rng, od):
    """Camera frames of one shot; the atoms and probe exposures see different fringes."""
    light = probe_intensity(rng)
    frames = [camera_counts(light * np.exp(-od), rng=rng, **CAM), camera_counts(probe_intensity(rng), rng=rng, **CAM),
              camera_counts(np.zeros(SHAPE), rng=rng, **CAM)]
    return frames, light


@pytest.fixture(scope="module")
def basis():
    rng = np.random.default_rng(42)
    box = grow_box(ROI, 1.0, SHAPE)
    probes = []
    for _ in range(N_BASIS):
        probe = camera_counts(probe_intensity(rng), rng=rng, **CAM).astype(float)
        dark = camera_counts(np.zeros(SHAPE), rng=rng, **CAM).astype(float)
        probes.append((probe - dark)[box[0]:box[1], box[2]:box[3]])
    return build_fringe_basis(np.array(probes, dtype=np.float32), roi=ROI, box=box,
                              valid=np.ones((box[1] - box[0], box[3] - box[2]), bool))


def test_basis_size_is_the_number_of_fringe_dimensions(basis):
    # intensity (1) + two fringe systems with free phases (2 each): 5 components stand out of the photon noise
    assert basis.n_components == 5
    assert basis.singular_values[4] > 2 * basis.threshold > 2 * basis.singular_values[5]
    assert basis.reference_noise_ratio == pytest.approx(5 / N_BASIS)


def test_residual_noise_reaches_the_photon_shot_noise_limit(basis):
    rng = np.random.default_rng(1)
    removed, conventional = [], []
    for _ in range(25):
        (atoms, probe, dark), light = shot(rng, np.zeros(SHAPE))
        limit = np.sqrt(light + 2 * READ_NOISE**2) / light  # atoms frame alone: photons + read noise of two frames
        rows, cols = slice(ROI[0], ROI[1]), slice(ROI[2], ROI[3])
        removed.append(reduce_shot(atoms, probe, dark, roi=ROI, basis=basis).od / limit[rows, cols])
        conventional.append(reduce_shot(atoms, probe, dark, roi=ROI).od / limit[rows, cols])
    ratio_removed = float(np.std(removed))
    ratio_conventional = float(np.std(conventional))
    # the reference built from K components of M frames adds K/M of one frame's variance
    assert ratio_removed == pytest.approx(np.sqrt(1 + 5 / N_BASIS), rel=0.03)
    assert ratio_conventional > 3.0  # fringes dominate without the optimal reference


def test_cloud_od_and_noise_model_with_fringe_removal(basis):
    rng = np.random.default_rng(2)
    od_true = cloud_od()[ROI[0]:ROI[1], ROI[2]:ROI[3]]
    residuals, factors = [], []
    for _ in range(150):
        (atoms, probe, dark), _ = shot(rng, cloud_od())
        result = reduce_shot(atoms, probe, dark, roi=ROI, basis=basis)
        residuals.append(result.od - od_true)
        factors.append(result.variance_factor)
    residuals, factors = np.array(residuals), np.array(factors)
    centre = od_true > 0.8
    edge = od_true < 0.01
    # unbiased OD in the cloud: atom number (sum of OD) within 0.5 %
    assert residuals.sum(axis=(1, 2)).mean() == pytest.approx(0.0, abs=0.005 * od_true.sum())
    # noise model: the variance at the cloud's centre relative to the background is (e^OD + K/M) / (1 + K/M)
    measured = residuals[:, centre].var() / residuals[:, edge].var()
    predicted = np.mean(factors[:, centre]) / np.mean(factors[:, edge])
    assert predicted == pytest.approx((np.exp(od_true[centre]).mean() + 5 / N_BASIS) / (1 + 5 / N_BASIS), rel=0.05)
    assert measured == pytest.approx(predicted, rel=0.15)


def test_roi_is_found_around_the_cloud():
    rng = np.random.default_rng(3)
    od = cloud_od(centre=(30.0, 60.0)) + rng.normal(0, 0.02, SHAPE)
    (r0, r1, c0, c1), atoms = locate_run_cloud(od)
    # the cloud's extent: its detectable wings (smoothed signal above twice its noise: about 3.5 RMS widths here) and a
    # margin of three smoothing widths; the ROI grows it by 0.3 times its size on each side
    assert atoms[60, 30] and atoms[60, 30 + 12] and not atoms[60, 30 + 24] and not atoms[60 + 24, 30]
    assert (r0, r1, c0, c1) == find_roi(od)
    rows, cols = np.flatnonzero(atoms.any(axis=1)), np.flatnonzero(atoms.any(axis=0))
    half = np.ceil(0.3 * (rows[-1] + 1 - rows[0]))
    assert r0 == pytest.approx(max(rows[0] - half, 0), abs=1) and r1 == pytest.approx(min(rows[-1] + 1 + half, 96),
                                                                                      abs=1)
    assert c0 == pytest.approx(max(cols[0] - half, 0), abs=1) and c1 == pytest.approx(cols[-1] + 1 + half, abs=1)
    with pytest.raises(InputDataError, match="no cloud stands out of the noise .*; give the region of interest by hand$"):
        find_roi(rng.normal(0, 0.02, SHAPE))


def test_roi_of_a_ring_a_lumpy_and_a_bimodal_cloud_holds_all_of_it():
    rng = np.random.default_rng(5)
    r = np.hypot(X - 48.0, Y - 48.0)
    clouds = {
        "ring": 0.8 * np.exp(-0.5 * ((r - 25.0) / 3.0) ** 2),
        "lumps": sum(0.6 * np.exp(-((X - x0) ** 2 / 18.0 + (Y - 48.0) ** 2 / 8.0)) for x0 in (28.0, 40.0, 52.0, 64.0)),
        "two clouds": cloud_od(centre=(30.0, 48.0)) + 0.7 * cloud_od(centre=(66.0, 48.0)),
    }
    for name, od in clouds.items():
        _, atoms = locate_run_cloud(od + rng.normal(0, 0.02, SHAPE))
        assert atoms[od > 0.05 * od.max()].all(), name  # every part of the cloud, not only the brightest lump
        assert not atoms[:8, :8].any(), name  # the corner stays atom-free (noise is not taken for atoms)


def test_gavish_donoho_rank_of_low_rank_plus_noise():
    rng = np.random.default_rng(4)
    m, n = 60, 2000
    signal = rng.normal(size=(m, 3)) @ rng.normal(size=(3, n)) * 0.5
    data = signal + rng.normal(size=(m, n))
    rank, threshold = gavish_donoho_rank(np.linalg.svd(data, compute_uv=False), (m, n))
    assert rank == 3
    # pure noise: the largest singular value sits at the Marchenko-Pastur edge sqrt(m) + sqrt(n), below threshold
    noise = np.linalg.svd(rng.normal(size=(m, n)), compute_uv=False)
    assert gavish_donoho_rank(noise, (m, n))[0] == 1 and noise[0] < gavish_donoho_rank(noise, (m, n))[1] * 1.2


def test_probe_intensity_a_few_percent_off_the_basis_is_absorbed_by_the_reference(basis):
    # the atoms exposure 5 % brighter or dimmer than the basis frames (a probe-power drift): the fitted reference
    # follows it, so the OD of a region without atoms stays zero; the shot's own probe frame would leave -ln(scale)
    rng = np.random.default_rng(6)
    for scale in (0.95, 1.05):
        removed, own = [], []
        for _ in range(10):
            light = scale * probe_intensity(rng)
            atoms = camera_counts(light, rng=rng, **CAM)
            probe = camera_counts(probe_intensity(rng), rng=rng, **CAM)
            dark = camera_counts(np.zeros(SHAPE), rng=rng, **CAM)
            removed.append(np.median(reduce_shot(atoms, probe, dark, roi=ROI, basis=basis).od))
            own.append(np.median(reduce_shot(atoms, probe, dark, roi=ROI).od))
        assert np.mean(removed) == pytest.approx(0.0, abs=0.003), scale
        assert np.mean(own) == pytest.approx(-np.log(scale), abs=0.02), scale
