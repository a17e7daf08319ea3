"""Benchmark (issue 11, item 6): fringe removal on real fringes, against the photon-noise limit of the same frames.

On the 23 real triplets of banik-ring-dev (``../shared/data/real``; strong probe fringes that differ between the
atoms and the probe exposure of a shot, probe intensity changing by a few percent from shot to shot), the workflow's
reduction is run three ways: the shot's own probe frame as reference; fringe removal with the basis fitted outside
the whole region of interest (before issue 11); and fringe removal fitted outside the run's cloud extent only (the
atom-free pixels inside the ROI, around and inside the ring, included: today). For each, the OD noise of the
atom-free pixels of the ROI is compared with the photon-noise limit of the same frames: the camera's gain and read
noise are measured by photon transfer on the frames themselves (:mod:`atompump.camera`), and the limit of each pixel
is the propagated photon and read noise of its atoms frame and of the reference (the shot's probe frame, or the basis
reference with ``K/M`` of one frame's variance), with the saturation term. Printed per method: the ratio of the
measured to the limiting per-pixel standard deviation, and the same for 8x8-pixel block means (where the spatially
correlated residual shows), the median over shots; and the probe-intensity mismatch the reference absorbed.

    python benchmarks/fringe_removal.py [--data ../shared/data/real]

The data are read-only and not part of the repository; without them the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atompump.camera import estimate_camera_noise  # noqa: E402
from atompump.io import read_dataset, write_manifest  # noqa: E402
from atompump.io.shots import read_shot, run_shots  # noqa: E402
from atompump.reduce import build_fringe_basis, grow_box, reduce_shot  # noqa: E402
from atompump.stages import fringe_basis_stage, shots_stage  # noqa: E402

PIXEL, ISAT = 0.401, 2410.0
IMAGING = {"pixel_size_um": PIXEL, "pump_axis": "x", "alpha": 1.0, "isat_counts": ISAT, "min_probe_counts": 50,
           "saturation_counts": 65535, "cross_section_um2": None, "roi": None, "roi_sample_shots": 23,
           "fringe_removal": True, "fringe_max_frames": 100, "fringe_basis_size": None}


def limit_variance(i_in: np.ndarray, i_out: np.ndarray, *, gain: float, read: float, reference_ratio: float):
    """Photon- and read-noise variance of the OD ``ln(I_in/I_out) + (I_in - I_out)/I_sat`` of each pixel."""
    d_in = 1.0 / i_in + 1.0 / ISAT
    d_out = 1.0 / i_out + 1.0 / ISAT
    return (gain * i_out + read**2) * d_out**2 + reference_ratio * (gain * i_in + read**2) * d_in**2


def block_means(values: np.ndarray, mask: np.ndarray, size: int = 8) -> np.ndarray:
    ny, nx = (values.shape[0] // size) * size, (values.shape[1] // size) * size
    v = np.where(mask, values, 0.0)[:ny, :nx].reshape(ny // size, size, nx // size, size)
    m = mask[:ny, :nx].reshape(ny // size, size, nx // size, size)
    full = m.all(axis=(1, 3))
    return (v.sum(axis=(1, 3)) / size**2)[full]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "real")
    args = parser.parse_args()
    folder = args.data / "banik-ring-dev"
    if not folder.is_dir():
        print(f"real data not found at {args.data} (banik-ring-dev/ missing): skipped; pass --data FOLDER")
        return 0
    ids = sorted(p.name[-9:-5] for p in folder.glob("Probe_*.tiff"))
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_manifest(tmp / "manifest.csv", [{"shot": i, "atoms": str(folder / f"Image_2020_11_24_{i}.tiff"),
                                              "probe": str(folder / f"Probe_2020_11_24_{i}.tiff"),
                                              "dark": str(folder / f"Background_2020_11_24_{i}.tiff"), "cycle": 0}
                                             for i in ids])
        shots_stage(tmp / "shots.nc", data={"manifest": str(tmp / "manifest.csv")}, batch_size=100)
        basis_ds = fringe_basis_stage(tmp / "shots.nc", tmp / "basis.nc", imaging=IMAGING)
        run = read_dataset(tmp / "basis.nc")
        records = run_shots({"manifest": str(tmp / "manifest.csv")})
        frames = [read_shot(r) for r in records]
    roi = tuple(int(v) for v in basis_ds.attrs["roi"])
    shape = frames[0].atoms.shape
    box = grow_box(roi, 1.0, shape)
    cloud = np.asarray(run.cloud.values, bool)  # the run's cloud extent over the ROI
    atoms_box = np.zeros((box[1] - box[0], box[3] - box[2]), bool)
    atoms_box[roi[0] - box[0]:roi[1] - box[0], roi[2] - box[2]:roi[3] - box[2]] = cloud
    probes = np.array([(f.probe - f.dark)[box[0]:box[1], box[2]:box[3]] for f in frames], dtype=np.float32)
    lit = (probes >= IMAGING["min_probe_counts"]).all(axis=0)
    bases = {"fringe removal, fit outside the ROI (before)": build_fringe_basis(probes, roi=roi, box=box, valid=lit),
             "fringe removal, fit outside the cloud (now)": build_fringe_basis(probes, roi=roi, box=box, valid=lit,
                                                                               atoms=atoms_box)}
    noise = estimate_camera_noise(((f.atoms, f.probe) for f in frames), [f.dark for f in frames], method="pairs",
                                  mask=np.pad(~cloud, ((roi[0], shape[0] - roi[1]), (roi[2], shape[1] - roi[3])),
                                              constant_values=True))
    print(f"banik-ring-dev: {len(frames)} real shots, ROI rows {roi[0]}:{roi[1]} columns {roi[2]}:{roi[3]}, "
          f"{(~cloud).sum()} atom-free pixels of the ROI per shot; camera by photon transfer: gain "
          f"{noise.gain:.2f} counts per photoelectron, read noise {noise.read_noise_counts:.1f} counts")
    print(f"{'reference':48s} {'pixel std / limit':>18s} {'8x8 block std / limit':>22s}  components")
    methods = [("own probe frame", None), *bases.items()]
    results = {}
    for name, basis in methods:
        pixel_ratio, block_ratio = [], []
        for f in frames:
            result = reduce_shot(f.atoms, f.probe, f.dark, roi=roi, basis=basis, alpha=1.0, isat_counts=ISAT,
                                 min_probe_counts=50, saturation_counts=65535)
            free = result.valid & ~cloud
            od = result.od - np.median(result.od[free])
            i_out = (f.atoms - f.dark)[roi[0]:roi[1], roi[2]:roi[3]]
            ratio = 1.0 if basis is None else basis.reference_noise_ratio
            limit = limit_variance(np.maximum(result.probe_counts, 1.0), np.maximum(i_out, 1.0), gain=noise.gain,
                                   read=noise.read_noise_counts, reference_ratio=ratio)
            pixel_ratio.append(np.sqrt(np.mean(od[free] ** 2) / np.mean(limit[free])))
            blocks = block_means(od, free)
            block_ratio.append(np.std(blocks) / np.sqrt(np.mean(limit[free]) / 64))
        k = "-" if basis is None else str(basis.n_components)
        results[name] = (float(np.median(pixel_ratio)), float(np.median(block_ratio)))
        print(f"{name:48s} {results[name][0]:18.2f} {results[name][1]:22.2f}  {k:>10s}")
    print("A ratio of 1 is the photon-noise limit; the block ratio shows the spatially correlated residual that a "
          "centre of mass feels (docs/errors.md).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
