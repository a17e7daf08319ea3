"""Reasons name the true cause of a bad shot (issue 11, item 7): a saturated camera, swapped or unlit frames, an atoms
frame brighter than the probe, a negative OD; never an algorithm's trouble downstream. The report's count by cause
follows the code of each reason's cause (``reject_cause``), and good real frames raise none of them."""

from __future__ import annotations

import re

import numpy as np
import pytest
import tifffile

from atompump.diagnose import frames_problem, od_sign_problem
from atompump.errors import InputDataError
from atompump.io import read_dataset, write_manifest
from atompump.io.formats import open_image
from atompump.reduce import optical_density
from atompump.stages import fringe_basis_stage, reduce_batch_stage, shots_stage
from atompump.reasons import Reason

SHAPE = (136, 136)
IMAGING = {"pixel_size_um": 1.0, "pump_axis": "x", "alpha": 1.0, "isat_counts": None, "min_probe_counts": 50,
           "saturation_counts": 65535, "cross_section_um2": None, "roi": None, "roi_sample_shots": 20,
           "fringe_removal": False, "fringe_max_frames": 100, "fringe_basis_size": None}


def frames(rng: np.random.Generator, *, od_peak: float = 1.0) -> dict[str, np.ndarray]:
    """A cloud (peak OD 1, RMS 3 pixels) in a probe of 2000 counts with fringes that move between exposures."""
    y, x = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    od = od_peak * np.exp(-((x - 68) ** 2 + (y - 64) ** 2) / (2 * 3.0**2))

    def light():
        return 2000.0 * (1 + 0.1 * np.sin(x / 3.0 + rng.uniform(0, 6.3)))

    return {"atoms": (rng.poisson(light() * np.exp(-od)) + 100).astype(np.uint16),
            "probe": (rng.poisson(light()) + 100).astype(np.uint16),
            "dark": rng.poisson(100.0, SHAPE).astype(np.uint16)}


def break_frames(kind: str, f: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    if kind == "saturated atoms":
        f["atoms"][:] = 65535
    elif kind == "saturated probe":
        f["probe"][:] = 65535
    elif kind == "atoms brighter":
        f["atoms"] = (1.5 * f["probe"]).astype(np.uint16)  # 50 % more light with atoms than without: OD -0.41
    elif kind == "atoms and probe swapped":
        f["atoms"], f["probe"] = f["probe"], f["atoms"]
    elif kind == "dark atoms frame":
        f["atoms"] = rng.poisson(100.0, SHAPE).astype(np.uint16)  # the probe did not fire: dark level
    elif kind == "all-zero atoms frame":
        f["atoms"][:] = 0
    elif kind == "probe and dark swapped":
        f["probe"], f["dark"] = f["dark"], f["probe"]
    elif kind == "no probe light":
        f["probe"] = rng.poisson(100.0, SHAPE).astype(np.uint16)
    return f


# shot -> (how it is broken, the reason (regex), its cause in the report's count)
CASES = {
    "s1": ("saturated atoms", r"^camera saturated in the atoms frame: 100% of the region of interest at or above "
                              r"imaging\.saturation_counts = 65535 \(atoms frame .*s1\.npz \[atoms\]\); lower the "
                              r"probe intensity or the exposure time", "camera saturated in the atoms frame"),
    "s2": ("atoms brighter", r"^atoms frame brighter than the probe frame: the median OD over the region of interest "
                             r"is -0\.4\d*, 5\d% more light with atoms than without \(atoms frame .*s2\.npz \[atoms\], "
                             r"probe frame .*s2\.npz \[probe\]\); check that the atoms and probe frames are not "
                             r"swapped .* and that the probe exposure had its full light",
           "atoms frame brighter than the probe frame"),
    "s3": ("atoms and probe swapped", r"^negative optical density \(a dip, not a cloud\): the strongest structure of "
                                      r"the region of interest lies 0\.\d+ below the background OD at its edge against "
                                      r"-?0\.\d+ above it .*; the atoms and probe frames look swapped",
           "negative optical density"),
    "s4": ("dark atoms frame", r"^no light in the atoms frame: 100% of the region of interest has less than 50 counts "
                               r"above the dark frame although the probe frame has light \(atoms frame .*s4\.npz "
                               r"\[atoms\]\); the probe was off or blocked during the atoms exposure",
           "no light in the atoms frame"),
    "s5": ("all-zero atoms frame", r"^the atoms frame .*s5\.npz \[atoms\] is all zero: the camera recorded nothing",
           "all-zero frame"),
    "s6": ("probe and dark swapped", r"^dark frame brighter than the probe frame: 100% of the region of interest has "
                                     r"no probe light and the dark frame is \d+ counts brighter than the probe frame "
                                     r"\(median\) .*; the probe and dark frames look swapped",
           "dark frame brighter than the probe frame"),
    "s7": ("saturated probe", r"^camera saturated in the probe frame: 100% of the region of interest at or above "
                              r"imaging\.saturation_counts = 65535 \(probe frame .*s7\.npz \[probe\]\)",
           "camera saturated in the probe frame"),
    "s8": ("no probe light", r"^no probe light: only 0\.\d% of the region of interest has probe light above 50 counts "
                             r"\(probe frame .*s8\.npz \[probe\]\); check the probe beam or imaging\.min_probe_counts",
           "no probe light"),
}


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """14 NPZ shots: the cases of CASES and six good ones."""
    folder = tmp_path_factory.mktemp("broken")
    rng = np.random.default_rng(17)
    rows = []
    for i in range(14):
        shot = f"s{i}"
        f = frames(rng)
        if shot in CASES:
            f = break_frames(CASES[shot][0], f, rng)
        np.savez(folder / f"{shot}.npz", **f)
        rows.append({"shot": shot, "file": f"{shot}.npz", "cycle": float(i % 4), "direction": 1})
    write_manifest(folder / "manifest.csv", rows)
    return folder


def reduced(folder, *, fringe_removal: bool, roi: list[int] | None = None):
    out = folder / f"out-{fringe_removal}-{roi is not None}"
    imaging = {**IMAGING, "fringe_removal": fringe_removal, "roi": roi}
    shots_stage(out / "shots.nc", data={"manifest": str(folder / "manifest.csv")}, batch_size=20)
    fringe_basis_stage(out / "shots.nc", out / "basis.nc", imaging=imaging)
    reduce_batch_stage(out / "shots.nc", out / "basis.nc", out / "batch.nc", batch=0, imaging=imaging)
    batch = read_dataset(out / "batch.nc")
    return {str(s): Reason(str(r), str(c)) for s, r, c in zip(batch.shot.values, batch.reject_reason.values,
                                                             batch.reject_cause.values)}


@pytest.mark.parametrize("fringe_removal", [False, True])
@pytest.mark.parametrize("roi", [None, [8, 128, 8, 128]], ids=["found", "large"])
def test_every_bad_shot_is_rejected_for_its_true_cause(broken_run, fringe_removal, roi):
    """Each cause, with the shot's own probe frame or the fringe-free reference as the reference, in the ROI found
    around the cloud and in a large ROI (120 x 120 pixels: the checks use every other pixel)."""
    reasons = reduced(broken_run, fringe_removal=fringe_removal, roi=roi)
    for shot, (kind, pattern, cause) in CASES.items():
        if fringe_removal and kind == "atoms brighter":
            # the fringe-free reference is fitted to the atoms frame itself: this shot's dim probe frame is not used,
            # its OD is measurable (and it holds no cloud: the centre-of-mass stage rejects it for that)
            assert reasons[shot] == "", reasons[shot]
            continue
        assert re.search(pattern, reasons[shot]), (kind, reasons[shot])
        assert reasons[shot].cause.label == cause, (kind, reasons[shot])
    assert all(reasons[f"s{i}"] == "" for i in (0, 9, 10, 11, 12, 13))


def test_a_run_of_swapped_frames_is_named_when_no_roi_can_be_found(tmp_path):
    """Every shot with atoms and probe swapped: the mean OD holds a dip, not a cloud; the ROI search says so."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(6):
        np.savez(tmp_path / f"s{i}.npz", **break_frames("atoms and probe swapped", frames(rng), rng))
        rows.append({"shot": f"s{i}", "file": f"s{i}.npz", "cycle": float(i), "direction": 1})
    write_manifest(tmp_path / "manifest.csv", rows)
    shots_stage(tmp_path / "shots.nc", data={"manifest": str(tmp_path / "manifest.csv")}, batch_size=20)
    with pytest.raises(InputDataError, match=r"^cannot find the region of interest: no cloud stands out of the noise "
                                             r".*The mean OD of the sampled shots is not an absorption image: "
                                             r"negative optical density \(a dip, not a cloud\): .*atoms frames of 6 "
                                             r"sampled shots, their probe frames\); the atoms and probe frames look "
                                             r"swapped"):
        fringe_basis_stage(tmp_path / "shots.nc", tmp_path / "basis.nc", imaging=IMAGING)


def test_od_sign_checks_on_model_images(rng):
    y, x = np.mgrid[0:60, 0:90]
    cloud = np.exp(-((x - 45) ** 2 + (y - 30) ** 2) / (2 * 4.0**2)) + rng.normal(0, 0.05, (60, 90))
    fringes = 0.2 * np.cos(x / 2.5) + rng.normal(0, 0.05, (60, 90))  # strong symmetric fringes, no atoms
    sources = {"atoms": "A", "probe": "P", "od": "O"}
    assert od_sign_problem(cloud, sources=sources) == ""
    assert od_sign_problem(fringes, sources=sources) == ""
    assert od_sign_problem(-cloud, sources=sources).startswith("negative optical density (a dip, not a cloud): ")
    assert od_sign_problem(-cloud, sources=sources, od_input=True).endswith(
        "(O); check the sign convention with which the file was written (OD = ln(I_in / I_out), positive where atoms "
        "absorb)")
    assert od_sign_problem(cloud - 0.25, sources=sources) == ""  # a probe 28 % dimmer: still measured
    assert od_sign_problem(cloud - 0.4, sources=sources).startswith(
        "atoms frame brighter than the probe frame: the median OD over the region of interest is -0.39")
    assert od_sign_problem(cloud - 0.4, sources=sources, od_input=True).startswith(
        "negative optical density: the median OD over the region of interest is -0.39")
    masked = np.where(x < 80, np.nan, -cloud)  # too few pixels left to judge
    assert od_sign_problem(masked[:3], sources=sources) == ""


def test_good_real_frames_raise_no_reason(repo_root):
    """The 10 committed banik-ring-dev triplets (real fringes, a ring filling most of the frame, two faint shots) and
    the 3 Oqtant OD images: no false cause, while the same OD with its sign flipped is named."""
    folder = repo_root / "tests/data/real/banik-ring-dev"
    for atoms_path in sorted(folder.glob("Image_*.tiff")):
        number = atoms_path.stem.split("_")[-1]
        f = {name: tifffile.imread(folder / f"{prefix}_2020_11_24_{number}.tiff").astype(float)
             for name, prefix in (("atoms", "Image"), ("probe", "Probe"), ("dark", "Background"))}
        sources = {name: f"{name} {number}" for name in f}
        assert frames_problem(f["atoms"], f["probe"], f["dark"], min_probe_counts=50, saturation_counts=65535,
                              sources=sources) == "", number
        result = optical_density(f["atoms"], f["probe"], f["dark"], isat_counts=2410, min_probe_counts=50,
                                 saturation_counts=65535)
        assert od_sign_problem(result.od, result.valid, sources=sources) == "", number
    for path in sorted((repo_root / "tests/data/real/oqtant-insitu").glob("*.txt")):
        with open_image(path) as image:
            od = image.read("it_plot")
        assert od_sign_problem(od, sources={"od": path.name}, od_input=True) == ""
        assert "negative optical density" in od_sign_problem(-od, sources={"od": path.name}, od_input=True)


def test_report_counts_the_new_causes(broken_run):
    """com_report_rows counts rejected shots by the causes named here (a reason without its numbers)."""
    import xarray as xr

    from atompump.stages.com import com_report_rows

    reasons = reduced(broken_run, fringe_removal=False)
    com = xr.Dataset({"reject_reason": ("shot", np.array(list(reasons.values()), dtype=object)),
                      "reject_cause": ("shot", np.array([r.code for r in reasons.values()], dtype=object))},
                     coords={"shot": list(reasons)})
    rows = {name: count for name, count, _ in com_report_rows(com)}
    for _, _, cause in CASES.values():
        assert rows[f"rejected: {cause}"] == 1, cause
