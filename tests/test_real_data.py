"""A real absorption-imaging shot (tests/data/real/bec1-side-fits, MIT licence, see its README): the FITS reader,
the low-light mask and a sensible optical density on real camera frames."""

import numpy as np
import pytest

from atompump.io import write_manifest
from atompump.io.shots import check_shots, read_shot, run_shots
from atompump.reduce import find_roi, optical_density

FOLDER = "tests/data/real/bec1-side-fits"
FILE = "805277_2022-04-06--8-49-08_Side.fits"


@pytest.fixture(scope="module")
def frames(repo_root, tmp_path_factory):
    # a manifest with one multi-frame file: pages 0, 1, 2 are atoms, probe, dark (the default frame names)
    folder = tmp_path_factory.mktemp("real")
    write_manifest(folder / "manifest.csv", [{"shot": "805277", "file": str(repo_root / FOLDER / FILE), "cycle": 0}])
    records, shape = check_shots(run_shots({"manifest": str(folder / "manifest.csv")}))
    assert shape == (512, 512) and records[0].problem == ""
    return read_shot(records[0])


def test_fits_reader_applies_bzero(frames):
    # int16 on disk with BZERO = 32768: camera counts are unsigned, the dark frame sits at the camera offset
    for frame in (frames.atoms, frames.probe, frames.dark):
        assert frame.dtype == np.float64 and frame.shape == (512, 512)
        assert frame.min() >= 0 and frame.max() < 65536
    assert 300 < np.median(frames.dark) < 400
    assert frames.probe.max() > 10000
    assert frames.sources["probe"].endswith(f"{FILE} [1]")


def test_low_light_mask_covers_the_unlit_left_part(frames):
    result = optical_density(frames.atoms, frames.probe, frames.dark, min_probe_counts=50)
    lit_columns = result.valid.mean(axis=0) > 0.5
    first_lit = int(np.argmax(lit_columns))
    assert 0.42 * 512 < first_lit < 0.50 * 512  # roughly the left 45% has no probe light
    assert result.valid[:, : int(0.42 * 512)].mean() < 0.01
    assert result.valid[:, int(0.55 * 512):].mean() > 0.999
    assert np.isnan(result.od[~result.valid]).all()


def test_od_shows_the_cloud_upper_right_with_a_peak_of_a_few(frames):
    from scipy import ndimage

    result = optical_density(frames.atoms, frames.probe, frames.dark, min_probe_counts=50)
    smooth = ndimage.gaussian_filter(np.where(result.valid, result.od, 0.0), 3)
    row, col = np.unravel_index(np.argmax(smooth), smooth.shape)
    assert row < 128 and col > 300  # upper right
    assert 2.0 < smooth.max() < 6.0
    background = result.od[300:, 300:]
    assert abs(np.nanmedian(background)) < 0.1  # no atoms there: OD about zero
    roi = find_roi(result.od, valid=result.valid)
    assert roi[0] <= row < roi[1] and roi[2] <= col < roi[3]
    assert roi[1] < 0.7 * 512 and roi[2] > 0.42 * 512  # the cloud in the upper part, within the lit part of the frame
