"""Readers of every camera format, chosen by content; manifests with a 'file' column; labscript HDF5 shot folders."""

import h5py
import numpy as np
import pytest
import tifffile
from astropy.io import fits
from PIL import Image

from atompump.errors import InputDataError
from atompump.io import read_frame
from atompump.io.formats import detect_format, open_image
from atompump.io.manifest import scan_manifest, write_manifest
from atompump.io.runtable import shots_from_table, shots_table
from atompump.io.shots import check_shots, count_run_shots, read_shot, run_input_files, run_shots


def triplet(shape=(12, 16), dtype=np.uint16, seed=0):
    """Distinct atoms/probe/dark frames (integers that every format stores exactly)."""
    rng = np.random.default_rng(seed)
    dark = rng.integers(90, 110, shape)
    probe = dark + rng.integers(900, 1100, shape)
    atoms = dark + rng.integers(300, 600, shape)
    return [f.astype(dtype) for f in (atoms, probe, dark)]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int16, np.float32])
def test_tiff_single_and_multi_page(tmp_path, dtype):
    frames = triplet(dtype=dtype) if dtype != np.uint8 else [(f // 8).astype(np.uint8) for f in triplet()]
    tifffile.imwrite(tmp_path / "one.tif", frames[0])
    out = read_frame(tmp_path / "one.tif")
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, frames[0])
    tifffile.imwrite(tmp_path / "stack.tif", np.stack(frames), photometric="minisblack")  # three pages
    with open_image(tmp_path / "stack.tif") as image:
        assert len(image.frames) == 3 and image.names == []
        np.testing.assert_array_equal(image.read(2), frames[2])
    # a stack written as one page of three separate sample planes (tifffile's RGB default) reads the same
    tifffile.imwrite(tmp_path / "planar.tif", np.stack(frames), photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(read_frame(tmp_path / "planar.tif", 1), frames[1])
    with pytest.raises(InputDataError, match=r"stack.tif: holds 3 unnamed frame\(s\) .* not one"):
        read_frame(tmp_path / "stack.tif")


def test_fits_bzero_cube_and_named_extensions(tmp_path):
    frames = triplet(dtype=np.uint16)
    frames[1][0, 0] = 65000  # above int16: stored as int16 with BZERO = 32768
    fits.PrimaryHDU(np.stack(frames)).writeto(tmp_path / "cube.fits")
    assert fits.getheader(tmp_path / "cube.fits")["BZERO"] == 32768
    with open_image(tmp_path / "cube.fits") as image:
        assert image.shape_dtype(1) == ((12, 16), np.dtype("uint16"))
        np.testing.assert_array_equal(image.read(1), frames[1])
    hdus = [fits.PrimaryHDU()] + [fits.ImageHDU(f.astype(np.float32), name=n)
                                  for f, n in zip(frames, ("ATOMS", "PROBE", "DARK"))]
    fits.HDUList(hdus).writeto(tmp_path / "named.fits")
    np.testing.assert_array_equal(read_frame(tmp_path / "named.fits", "PROBE"), frames[1])
    # BSCALE: stored integers scaled to physical counts
    scaled = fits.PrimaryHDU(frames[0].astype(np.int16))
    scaled.header["BSCALE"], scaled.header["BZERO"] = 2.0, 10.0
    scaled.writeto(tmp_path / "scaled.fits")
    np.testing.assert_array_equal(read_frame(tmp_path / "scaled.fits"), 2.0 * frames[0] + 10.0)


def test_png_bmp_8_and_16_bit(tmp_path):
    frame16 = triplet(dtype=np.uint16)[1] * 20
    Image.fromarray(frame16).save(tmp_path / "f16.png")
    np.testing.assert_array_equal(read_frame(tmp_path / "f16.png"), frame16)
    frame8 = (triplet()[0] // 8).astype(np.uint8)
    Image.fromarray(frame8).save(tmp_path / "f8.png")
    Image.fromarray(frame8).save(tmp_path / "f8.bmp")
    np.testing.assert_array_equal(read_frame(tmp_path / "f8.png"), frame8)
    np.testing.assert_array_equal(read_frame(tmp_path / "f8.bmp"), frame8)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(InputDataError, match="colour.png: colour image \\(mode RGB\\); camera frames must be grey"):
        read_frame(tmp_path / "colour.png")
    # a 16-bit BMP holds RGB 5-5-5 colour, not grey levels: refused, naming the file
    import struct

    rows = b"".join(np.arange(4, dtype="<u2").tobytes() for _ in range(2))
    (tmp_path / "f16.bmp").write_bytes(b"BM" + struct.pack("<IHHI", 54 + len(rows), 0, 0, 54)
                                       + struct.pack("<IiiHHIIiiII", 40, 4, 2, 1, 16, 0, len(rows), 2835, 2835, 0, 0)
                                       + rows)
    with pytest.raises(InputDataError, match="f16.bmp: colour image \\(mode RGB\\)"):
        read_frame(tmp_path / "f16.bmp")


def test_npz_named_and_npy(tmp_path):
    atoms, probe, dark = triplet()
    np.savez(tmp_path / "shot.npz", dark=dark, probe=probe, atoms=atoms)
    with open_image(tmp_path / "shot.npz") as image:
        assert image.names == ["dark", "probe", "atoms"]
        np.testing.assert_array_equal(image.read("probe"), probe)
    np.savez_compressed(tmp_path / "stack.npz", frames=np.stack([atoms, probe, dark]))
    np.testing.assert_array_equal(read_frame(tmp_path / "stack.npz", 2), dark)
    np.save(tmp_path / "one.npy", atoms)
    np.testing.assert_array_equal(read_frame(tmp_path / "one.npy"), atoms)


def test_format_is_chosen_by_content_not_extension(tmp_path):
    frame = triplet()[0]
    Image.fromarray(frame).save(tmp_path / "really_png.png")
    (tmp_path / "really_png.tif").write_bytes((tmp_path / "really_png.png").read_bytes())
    tifffile.imwrite(tmp_path / "camera.raw", frame)  # TIFF content, unknown extension
    assert detect_format(tmp_path / "really_png.tif") == "png"
    assert detect_format(tmp_path / "camera.raw") == "tiff"
    np.testing.assert_array_equal(read_frame(tmp_path / "really_png.tif"), frame)
    np.testing.assert_array_equal(read_frame(tmp_path / "camera.raw"), frame)
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(InputDataError, match="empty.tif: the file is empty"):
        read_frame(tmp_path / "empty.tif")
    (tmp_path / "junk.fits").write_bytes(b"\x00" * 100)
    with pytest.raises(InputDataError, match="junk.fits: cannot read as FITS: its first bytes are not a FITS header"):
        read_frame(tmp_path / "junk.fits")


def write_labscript_shot(path, frames, globals_, *, orientation="side", label="absorption", names=None, stack=False):
    """A shot file in labscript's layout: /images/<orientation>/<label>/<name>, globals as /globals attributes."""
    with h5py.File(path, "w") as h5:
        group = h5.require_group(f"/images/{orientation}")
        if stack:
            group.create_dataset(label, data=np.stack(frames))
        else:
            sub = group.require_group(label)
            for name, frame in zip(names or ("atoms", "probe", "dark"), frames):
                sub.create_dataset(name, data=frame)
        g = h5.require_group("globals")
        for key, value in globals_.items():
            g.attrs[key] = value


def test_labscript_folder_without_manifest(tmp_path):
    for i in range(4):
        write_labscript_shot(tmp_path / f"20240101_seq_{i:03d}.h5", triplet(seed=i),
                             {"pump_cycles": float(i), "pump_dir": -1 if i % 2 else 1, "is_ref": i == 3,
                              "rep": i // 2, "other": "x"}, names=("with_atoms", "without_atoms", "dark"))
    data = {"shots": str(tmp_path / "*.h5"),
            "frames": {"orientation": "side", "label": "absorption", "atoms": "with_atoms", "probe": "without_atoms",
                       "dark": "dark"},
            "globals": {"cycle": "pump_cycles", "direction": "pump_dir", "reference": "is_ref", "repeat": "rep"}}
    assert count_run_shots(data) == 4 and len(run_input_files(data)) == 4
    records = run_shots(data)
    assert [r.shot for r in records] == [f"20240101_seq_{i:03d}" for i in range(4)]
    assert [r.cycle for r in records] == [0.0, 1.0, 2.0, 3.0]
    assert [r.direction for r in records] == [1, -1, 1, -1]
    assert [r.reference for r in records] == [False, False, False, True]
    assert [r.repeat for r in records] == [0, 0, 1, 1] and records[0].metadata == {"other": "x"}
    checked, shape = check_shots(records)
    assert shape == (12, 16) and not any(r.problem for r in checked)
    # the run table round-trips, and each shot reads its own three frames
    table = shots_table(checked, shape=shape, batch_size=3)
    again = shots_from_table(table, batch=1)
    assert [r.shot for r in again] == ["20240101_seq_003"]
    frames = read_shot(again[0])
    np.testing.assert_array_equal(frames.probe, triplet(seed=3)[1])
    assert frames.sources["probe"].endswith("20240101_seq_003.h5 [without_atoms]")


def test_labscript_3d_dataset_with_page_indices_and_missing_global(tmp_path):
    write_labscript_shot(tmp_path / "a.h5", triplet(seed=1), {"cycle": 1.0}, stack=True)
    write_labscript_shot(tmp_path / "b.h5", triplet(seed=2), {"n_cycles": 2.0}, stack=True)
    data = {"shots": str(tmp_path / "*.h5"),
            "frames": {"orientation": "side", "label": "absorption", "atoms": 0, "probe": 1, "dark": 2}}
    records = run_shots({"shots": data["shots"], "frames": data["frames"]})
    np.testing.assert_array_equal(read_shot(records[0]).dark, triplet(seed=1)[2])
    assert records[0].direction == 1 and not records[0].problem
    assert "global 'cycle' (data.globals.cycle) is missing" in records[1].problem
    assert "Globals found: n_cycles" in records[1].problem


def test_manifest_file_column_multi_frame_files(tmp_path):
    atoms, probe, dark = triplet()
    tifffile.imwrite(tmp_path / "s0.tif", np.stack([atoms, probe, dark]), photometric="minisblack")  # unnamed pages
    fits.PrimaryHDU(np.stack([atoms, probe, dark])).writeto(tmp_path / "s1.fits")
    np.savez(tmp_path / "s2.npz", atoms=atoms, probe=probe, dark=dark)
    write_labscript_shot(tmp_path / "s3.h5", [atoms, probe, dark], {})
    rows = [{"shot": f"s{i}", "file": name, "cycle": i, "direction": 1, "reference": "false", "repeat": 0}
            for i, name in enumerate(["s0.tif", "s1.fits", "s2.npz", "s3.h5"])]
    write_manifest(tmp_path / "manifest.csv", rows)
    data = {"manifest": str(tmp_path / "manifest.csv"), "frames": {"orientation": "side", "label": "absorption"}}
    records, shape = check_shots(run_shots(data))
    assert shape == (12, 16) and [r.problem for r in records] == [""] * 4
    for record in records:
        frames = read_shot(record)
        np.testing.assert_array_equal(frames.atoms, atoms)
        np.testing.assert_array_equal(frames.probe, probe)
        np.testing.assert_array_equal(frames.dark, dark)
    # only this frame's pixels are converted when a region is asked for
    part = read_shot(records[2], region=(2, 5, 3, 9))
    np.testing.assert_array_equal(part.probe, probe[2:5, 3:9])


def test_manifest_needs_either_frame_columns_or_file(tmp_path):
    (tmp_path / "m.csv").write_text("shot,cycle,file,atoms,probe,dark\ns0,0,a,b,c,d\n")
    with pytest.raises(InputDataError, match="both a 'file' column and atoms/probe/dark columns"):
        scan_manifest(tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("shot,cycle\ns0,0\n")
    with pytest.raises(InputDataError, match=r"lacks column\(s\) atoms, dark, probe.*or file"):
        scan_manifest(tmp_path / "n.csv")


def test_truncated_files_of_every_container_format(tmp_path):
    frames = np.stack(triplet())
    fits.PrimaryHDU(frames).writeto(tmp_path / "cube.fits")
    np.savez(tmp_path / "shot.npz", atoms=frames[0])
    tifffile.imwrite(tmp_path / "stack.tif", frames, photometric="minisblack")
    write_labscript_shot(tmp_path / "shot.h5", list(frames), {"cycle": 1.0})
    for name in ("cube.fits", "shot.npz", "stack.tif", "shot.h5"):
        data = (tmp_path / name).read_bytes()
        (tmp_path / name).write_bytes(data[: int(len(data) * 0.6)])
    with pytest.raises(InputDataError, match=r"cube.fits: cannot read as FITS .*the file is truncated"):
        open_image(tmp_path / "cube.fits")
    with pytest.raises(InputDataError, match="shot.npz: cannot read as NPZ .*the file may be truncated"):
        open_image(tmp_path / "shot.npz")
    with pytest.raises(InputDataError, match="stack.tif: cannot read as TIFF"):
        with open_image(tmp_path / "stack.tif") as image:
            image.read(2)
    with pytest.raises(InputDataError, match="shot.h5: cannot read as HDF5 .*truncated"):
        open_image(tmp_path / "shot.h5", hdf5_group="/images/side/absorption")


def test_labscript_image_group_is_found_without_orientation_and_label(tmp_path):
    atoms, probe, dark = triplet()
    write_labscript_shot(tmp_path / "one.h5", [atoms, probe, dark], {"cycle": 2.0, "direction": -1})
    record = run_shots({"shots": str(tmp_path / "one.h5")})[0]  # no data.frames at all
    assert record.cycle == 2.0 and record.direction == -1 and record.problem == ""
    np.testing.assert_array_equal(read_shot(record).probe, probe)
    with h5py.File(tmp_path / "one.h5", "a") as h5:  # a second camera: which one is ambiguous
        h5.create_dataset("/images/top/absorption/atoms", data=atoms)
    with pytest.raises(InputDataError, match=r"holds several image groups \(/images/side/absorption, "
                                             r"/images/top/absorption\); set orientation and label to choose one$"):
        read_shot(record)  # the library names its own parameters; the reduce stages the config keys:
    from atompump.config import DATA_KEYS, config_keys

    with pytest.raises(InputDataError, match=r"; set data.frames.orientation and data.frames.label to choose one$"):
        with config_keys(DATA_KEYS):
            read_shot(record)
    only_top = run_shots({"shots": str(tmp_path / "one.h5"), "frames": {"orientation": "top"}})[0]
    with pytest.raises(InputDataError, match="frame 'probe' does not exist; the file holds 1 frame"):
        read_shot(only_top)


def test_simulator_hdf5_run_reads_with_the_default_config(tmp_path):
    # the layout of atompump.simulate's hdf5 format: a manifest with a 'file' column to frames/<shot>.h5, frames at
    # /images/side/absorption/{atoms,probe,dark}, globals as attributes of /globals, labscript root attributes
    rows = []
    (tmp_path / "frames").mkdir()
    for i in range(3):
        with h5py.File(tmp_path / "frames" / f"s{i:05d}.h5", "w", track_order=True) as f:
            f.attrs.update({"shot": f"s{i:05d}", "sequence_index": 0, "run number": i, "run repeat": 0})
            f.create_group("globals").attrs.update({"cycle": float(i), "direction": 1, "reference": False,
                                                    "repeat": 0, "order": i, "sequence_cycles": float(i)})
            images = f.create_group("images/side/absorption")
            for name, frame in zip(("atoms", "probe", "dark"), triplet(seed=i)):
                images.create_dataset(name, data=frame)
        rows.append({"shot": f"s{i:05d}", "file": f"frames/s{i:05d}.h5", "cycle": float(i), "direction": 1,
                     "reference": "false", "repeat": 0, "order": i, "sequence_cycles": float(i)})
    write_manifest(tmp_path / "manifest.csv", rows)
    records, shape = check_shots(run_shots({"manifest": str(tmp_path / "manifest.csv")}))
    assert shape == (12, 16) and [r.problem for r in records] == ["", "", ""]
    assert records[2].metadata == {} and records[2].order == 2 and records[2].sequence_cycles == 2.0
    np.testing.assert_array_equal(read_shot(records[2]).atoms, triplet(seed=2)[0])


def test_oqtant_job_result_is_an_od_image(repo_root, tmp_path):
    # a real job result of the Oqtant cloud service (tests/data/real/oqtant-insitu, CC0): JSON, one in-situ OD image
    path = repo_root / "tests/data/real/oqtant-insitu/LongOnlyExpt_rep_0.txt"
    assert detect_format(path) == "oqtant"
    with open_image(path) as image:
        assert image.names == ["it_plot"]
        assert image.check(None) == (148, 503)
        od = image.read("it_plot")
        assert image.attributes() == {"pixcal/it_plot": 0.344}
    assert od.dtype == np.float64 and od.shape == (148, 503)
    assert 1.4 < od.max() < 1.7 and abs(np.median(od)) < 0.05  # peak OD ~1.5 on an OD ~0 background
    row, col = np.unravel_index(np.argmax(od), od.shape)
    assert 60 < row < 85 and 200 < col < 300  # the elongated cloud in the middle
    text = path.read_text()
    (tmp_path / "cut.txt").write_text(text[: len(text) // 2])
    with pytest.raises(InputDataError, match=r"cut\.txt: cannot read as Oqtant JSON .*truncated"):
        open_image(tmp_path / "cut.txt")
    (tmp_path / "other.json").write_text('{"name": "not a job"}')
    with pytest.raises(InputDataError, match=r"other\.json: a JSON file but not an Oqtant job result"):
        open_image(tmp_path / "other.json")
    (tmp_path / "short.json").write_text('{"inputs": [{"output": {"values": {"it_plot": '
                                         '{"pixels": [1, 2, 3], "rows": 2, "columns": 2}}}}]}')
    with pytest.raises(InputDataError, match=r"short\.json: the image holds 3 pixels, not rows x columns"):
        open_image(tmp_path / "short.json").read(None)
