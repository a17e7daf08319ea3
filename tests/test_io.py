"""Readers: manifests and frames, with every bad-input path giving an actionable message."""

import numpy as np
import pytest
import tifffile

from atompump.errors import BadShotsError, InputDataError
from atompump.io import atomic_path, read_dataset, read_frame, read_manifest, write_dataset, write_json, write_manifest


def make_frames(folder, shot, shape=(8, 10), dtype=np.uint16):
    paths = {}
    for name, level in (("atoms", 800), ("probe", 1000), ("dark", 100)):
        path = folder / f"{shot}_{name}.tif"
        tifffile.imwrite(path, np.full(shape, level, dtype=dtype))
        paths[name] = path.name
    return paths


def manifest_rows(folder, n=3):
    return [{"shot": f"s{i}", **make_frames(folder, f"s{i}"), "cycle": float(i), "direction": 1 if i % 2 else -1}
            for i in range(n)]


def test_manifest_round_trip(tmp_path):
    write_manifest(tmp_path / "manifest.csv", manifest_rows(tmp_path))
    records = read_manifest(tmp_path / "manifest.csv")
    assert [r.shot for r in records] == ["s0", "s1", "s2"]
    assert [r.direction for r in records] == [-1, 1, -1]
    assert records[2].cycle == 2.0 and records[0].frames["atoms"] == tmp_path / "s0_atoms.tif"
    np.testing.assert_array_equal(read_frame(records[1].frames["probe"]), np.full((8, 10), 1000.0))


def test_direction_defaults_to_plus_one(tmp_path):
    rows = manifest_rows(tmp_path, 1)
    del rows[0]["direction"]
    write_manifest(tmp_path / "m.csv", rows)
    assert read_manifest(tmp_path / "m.csv")[0].direction == 1


def test_every_bad_row_is_listed(tmp_path):
    rows = manifest_rows(tmp_path, 4)
    rows[1]["shot"] = "s0"  # duplicate
    rows[2]["direction"] = 2
    rows[3]["atoms"] = "missing.tif"
    write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(BadShotsError, match=r"3 bad shot") as info:
        read_manifest(tmp_path / "m.csv")
    text = str(info.value)
    assert "duplicate shot id (first on line 2)" in text
    assert "direction '2' is not +1 or -1" in text
    assert "missing.tif does not exist" in text and "line 5" in text
    assert [p[0] for p in info.value.problems] == ["s0", "s2", "s3"]


def test_manifest_missing_file_and_columns(tmp_path):
    with pytest.raises(InputDataError, match="does not exist; give the path of the run's CSV manifest"):
        read_manifest(tmp_path / "nope.csv")
    (tmp_path / "m.csv").write_text("shot,atoms,probe\ns0,a,b\n")
    with pytest.raises(InputDataError, match="lacks column\\(s\\) cycle, dark; found shot, atoms, probe"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(InputDataError, match="is empty"):
        read_manifest(tmp_path / "e.csv")


def test_bad_frames(tmp_path):
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, np.ones((16, 16), np.uint16))
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(InputDataError, match="truncated.tif: cannot read as TIFF"):
        read_frame(truncated)
    nan = tmp_path / "nan.tif"
    tifffile.imwrite(nan, np.array([[1.0, np.nan], [2.0, 3.0]], np.float32))
    with pytest.raises(InputDataError, match="nan.tif: 1 pixel\\(s\\) are NaN"):
        read_frame(nan)
    stack = tmp_path / "stack.tif"
    tifffile.imwrite(stack, np.ones((3, 4, 4), np.uint16))
    with pytest.raises(InputDataError, match="expected one 2D frame, found an array of shape \\(3, 4, 4\\)"):
        read_frame(stack)
    cplx = tmp_path / "complex.tif"
    tifffile.imwrite(cplx, np.ones((4, 4), np.complex64))
    with pytest.raises(InputDataError, match="unexpected dtype complex64"):
        read_frame(cplx)
    with pytest.raises(InputDataError, match="unsupported frame format '.jpg'"):
        (tmp_path / "x.jpg").write_bytes(b"x")
        read_frame(tmp_path / "x.jpg")


def test_atomic_writers_leave_no_partial_file(tmp_path):
    import xarray as xr

    ds = xr.Dataset({"a": ("shot", np.arange(3.0))})
    write_dataset(ds, tmp_path / "x.nc")
    assert read_dataset(tmp_path / "x.nc").a.values.tolist() == [0.0, 1.0, 2.0]
    with pytest.raises(RuntimeError, match="interrupted"):
        with atomic_path(tmp_path / "y.nc") as tmp:
            tmp.write_text("half of a file")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]  # no y.nc, no temporary file


def test_json_is_deterministic_and_strict(tmp_path):
    write_json(tmp_path / "a.json", {"b": np.float64(1.5), "a": [np.int64(2), float("nan")]})
    assert (tmp_path / "a.json").read_text() == '{\n  "a": [\n    2,\n    null\n  ],\n  "b": 1.5\n}\n'


def test_uncompressed_writer_reads_back_like_xarrays(tmp_path):
    import xarray as xr

    from atompump.io.netcdf import write_dataset_uncompressed

    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {"od": (("shot", "y", "x"), rng.random((2, 3, 4)).astype(np.float32), {"units": "1"}),
         "valid": (("shot", "y", "x"), rng.random((2, 3, 4)) > 0.5),
         "reject_reason": ("shot", np.array(["", "truncated"], dtype=object))},
        coords={"shot": ("shot", np.array(["s0", "s1"], dtype=object)), "cycle": ("shot", [0.0, 1.5], {"units": "1"}),
                "y": ("y", np.arange(3)), "x": ("x", np.arange(4) + 5)},
        attrs={"roi": [1, 4, 5, 9], "batch": 3})
    write_dataset_uncompressed(ds, tmp_path / "fast.nc", title="t")
    write_dataset(ds, tmp_path / "xarray.nc", compress=False, title="t")
    xr.testing.assert_identical(read_dataset(tmp_path / "fast.nc"), read_dataset(tmp_path / "xarray.nc"))


def test_order_and_sequence_cycles_columns(tmp_path):
    rows = manifest_rows(tmp_path, 3)
    for i, row in enumerate(rows):
        row.update(order=2 - i, sequence_cycles=float(i) + 0.5)
    rows[2]["order"] = -1
    rows[1]["sequence_cycles"] = "inf"
    write_manifest(tmp_path / "m.csv", rows)
    with pytest.raises(BadShotsError) as info:
        read_manifest(tmp_path / "m.csv")
    assert "order '-1' is not an integer >= 0" in str(info.value)
    assert "sequence_cycles 'inf' is not a finite number >= 0" in str(info.value)
    rows[2]["order"], rows[1]["sequence_cycles"] = 0, 1.5
    write_manifest(tmp_path / "m.csv", rows)
    records = read_manifest(tmp_path / "m.csv")
    assert [r.order for r in records] == [2, 1, 0] and [r.sequence_cycles for r in records] == [0.5, 1.5, 2.5]
    assert all(r.metadata == {} for r in records)


def test_every_writer_encodes_alike_with_cf_attributes(tmp_path):
    """The three netCDF writers share one encoding: the same Dataset reads back the same from each, with the CF
    attributes (Conventions, title, ancillary_variables linking each value to its errors, UDUNITS units with the
    package's own units named in long_name)."""
    import xarray as xr

    from atompump.io.netcdf import (
        CONVENTIONS,
        image_coordinates,
        write_dataset_blocks,
        write_dataset_uncompressed,
    )
    from atompump.reasons import Reason, RejectCause

    n = 3
    ds = xr.Dataset(
        {"x_fit_um": ("shot", [1.0, 2.0, 3.0], {"units": "um", "long_name": "centre"}),
         "x_fit_err_um": ("shot", [0.1, 0.2, 0.3], {"units": "um"}),
         "x_fit_white_err_um": ("shot", [0.05, 0.1, 0.1], {"units": "um"}),
         "gap": ("shot", [0.11, 0.2, 0.3], {"units": "Er,s", "long_name": "direct gap"}),
         "used": ("shot", [True, False, True]),
         # a Reason (a str carrying its cause) among plain strings is stored as its text
         "reject_reason": ("shot", np.array(["", Reason("no cloud signal", RejectCause.NO_CLOUD), ""], dtype=object),
                           {"note": ""})},
        coords={"shot": ("shot", np.array(["a", "b", "c"], dtype=object)), "cycle": ("shot", [0.0, 1.0, 2.0])},
        attrs={"estimator": "fit", "title": "read back from another file"})
    write_dataset(ds, tmp_path / "x.nc", title="a table")
    write_dataset_uncompressed(ds, tmp_path / "u.nc", title="a table")
    write_dataset_blocks(tmp_path / "b.nc", ds.isel(shot=slice(0, 0)),
                         [{k: ds[k].values[:2] for k in ds.variables}, {k: ds[k].values[2:] for k in ds.variables}],
                         size=n, title="a table")
    read = [read_dataset(tmp_path / name) for name in ("x.nc", "u.nc", "b.nc")]
    for other in read[1:]:
        xr.testing.assert_identical(read[0], other)
    out = read[0]
    assert out.attrs == {"Conventions": CONVENTIONS, "title": "a table", "estimator": "fit"}
    assert out.x_fit_um.attrs["ancillary_variables"] == "x_fit_err_um x_fit_white_err_um"
    assert "ancillary_variables" not in out.x_fit_err_um.attrs and "note" not in out.reject_reason.attrs
    assert out.gap.attrs == {"units": "1", "long_name": "direct gap (in units of Er,s, the recoil energy h^2 / "
                                                        "(2 m lambda^2) of the short lattice)"}
    assert out.used.dtype == bool and ds.gap.attrs["units"] == "Er,s"  # the caller's Dataset is left alone
    coords = image_coordinates(range(10, 13), range(4, 6), pixel_size_um=0.5)
    np.testing.assert_allclose(coords["x_um"][1], [2.0, 2.5])
    np.testing.assert_allclose(coords["y_um"][1], [5.0, 5.5, 6.0])
    assert coords["x_um"][0] == "x" and coords["x_um"][2]["units"] == "um"
