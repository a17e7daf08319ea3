"""Benchmark (issue 5, point 7b; issue 11, item 2): per-shot centre-of-mass precision against the Cramér–Rao bound.

Shots of one cloud at one position (500 by default) are imaged with photon shot noise and read noise (probe 3000
counts, read noise 4 counts, the shot's own probe frame as reference), and each estimator's centre is compared with
the truth. The bound is computed independently of the estimators, from every pixel of the image: the Fisher matrix
of the 2D cloud model (the cloud's parameters: centre x and y, amplitude or atom number, widths where it has them,
an OD offset) under the exact linearised photon-noise variance of each pixel's OD. The efficiency is bound variance /
achieved variance.

Clouds: a Gaussian (the profile fit's own model; target >= 0.8 for the fit), a flat-topped disk (the Thomas–Fermi
profile model), and three shapes no profile model describes: a ring, a blurred 3D Thomas–Fermi cloud, and a real
in-situ shape (the committed oqtant-insitu image ``ShortOnlyExpt_rep_0``: an elongated BEC with density lumps).
For these the template estimator (registration against the run's own mean cloud, built here from the first
``--template`` shots, as the workflow's template rule does) has the target efficiency >= 0.9.

    python benchmarks/com_precision.py [--shots 500] [--template 200]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from atompump.com import cloud_model, cramer_rao_bound, locate_cloud, numerical_jacobian  # noqa: E402
from atompump.io.formats import open_image  # noqa: E402
from atompump.reduce import optical_density, photon_noise_od_variance  # noqa: E402
from atompump.simulate.imaging import camera_counts, gaussian_column_density, transmitted_intensity  # noqa: E402

SHAPE = (64, 128)
SIGMA_UM2 = 0.2907  # Rb-87 D2 resonant cross-section, um^2
PROBE = 3000.0
READ = 4.0
YY, XX = np.mgrid[0:SHAPE[0], 0:SHAPE[1]].astype(float)


def gaussian_cloud(p):
    atoms, x0, y0, sx, sy, offset = p
    return SIGMA_UM2 * gaussian_column_density(SHAPE, atom_number=atoms, centre_um=(x0, y0), sigma_um=(sx, sy),
                                               pixel_size_um=1.0) + offset


def flat_cloud(p):
    peak, x0, y0, radius, edge, offset = p
    return peak / (1.0 + np.exp((np.hypot(XX - x0, YY - y0) - radius) / edge)) + offset


def ring_cloud(p):
    peak, x0, y0, radius, width, offset = p
    return peak * np.exp(-0.5 * ((np.hypot(XX - x0, YY - y0) - radius) / width) ** 2) + offset


def shifted(image: np.ndarray, centre: tuple[float, float]):
    """A fixed shape (its first moment at ``centre``) moved by cubic splines: ``model([amplitude, x0, y0, offset])``."""
    coeffs = ndimage.spline_filter(image, order=3)

    def model(p):
        amplitude, x0, y0, offset = p
        return amplitude * ndimage.shift(coeffs, (y0 - centre[1], x0 - centre[0]), order=3, prefilter=False) + offset

    return model


def blurred_thomas_fermi() -> np.ndarray:
    """The column density of a 3D Thomas–Fermi cloud (radii 14 x 9 px, peak OD 1), blurred by a 1.5 px PSF."""
    u = 1.0 - ((XX - 63.3) / 14.0) ** 2 - ((YY - 31.5) / 9.0) ** 2
    return ndimage.gaussian_filter(np.clip(u, 0.0, None) ** 1.5, 1.5)


def in_situ_shape() -> np.ndarray | None:
    """The committed real oqtant-insitu image ShortOnlyExpt_rep_0 (0.344 um pixels), cleaned (background removed,
    cut to the cloud: 100 x 40 px around it, tapered) and scaled to peak OD 1, centred in the frame."""
    path = ROOT / "tests/data/real/oqtant-insitu/ShortOnlyExpt_rep_0.txt"
    if not path.is_file():
        return None
    with open_image(path) as image:
        od = image.read("it_plot")
    od = od - np.median(od)
    row, col = np.unravel_index(np.argmax(ndimage.gaussian_filter(od, 3)), od.shape)
    cut = ndimage.gaussian_filter(od, 1.0)[row - 20:row + 20, col - 50:col + 50]  # the image's own noise damped
    taper = np.outer(np.hanning(40), np.hanning(100)) ** 0.25
    cut = np.clip(cut, 0.0, None) * taper
    out = np.zeros(SHAPE)
    out[12:52, 14:114] = cut / cut.max()
    return out


def simulate(rng, od: np.ndarray):
    cam = dict(rng=rng, gain=1.0, offset_counts=100.0, read_noise_counts=READ)
    i_in = np.full(SHAPE, PROBE)
    return optical_density(camera_counts(transmitted_intensity(i_in, od), **cam), camera_counts(i_in, **cam),
                           camera_counts(np.zeros(SHAPE), **cam))


def image_bound(model, params, index=1):
    """Cramer-Rao bound of the centre (``params[index]``) from every pixel, under the exact photon and read noise."""
    variance = photon_noise_od_variance(model(np.asarray(params, float)), probe_counts=PROBE, read_noise_counts=READ)
    return cramer_rao_bound(numerical_jacobian(model, params, relative_step=1e-4), variance.ravel(), index=index)


def run(name, od, model, params, profile_model, n, n_template, seed, *, target=None, index=1):
    rng = np.random.default_rng(seed)
    truth = params[index]
    shots = [simulate(rng, od) for _ in range(n)]
    template, pooled, _ = cloud_model((str(i), r.od, r.valid, r.variance_factor)
                                      for i, r in enumerate(shots[:n_template]))  # the workflow's template rule
    xs = {"fit": [], "moment": [], "template": []}
    errs = {"fit": [], "moment": [], "template": []}
    for i, r in enumerate(shots):
        c = locate_cloud(r.od, pixel_size_um=1.0, valid=r.valid, variance_factor=r.variance_factor,
                         model=profile_model, template=template, shot=str(i), pooled_noise=pooled)
        for est, value in (("fit", c.fit), ("moment", c.moment), ("template", c.template)):
            xs[est].append(value.x_um)
            errs[est].append(value.x_err_um)
    bound = image_bound(model, params, index)
    print(f"{name}: {n} shots, template from {n_template} (smoothing {template.smoothing_px:g} px); image "
          f"Cramer-Rao bound {bound * 1e3:.2f} nm")
    efficiency = {}
    for est in ("fit", "moment", "template"):
        x, err = np.array(xs[est]), np.array(errs[est])
        ok = np.isfinite(x)
        x, err = x[ok], err[ok]
        efficiency[est] = bound**2 / x.var(ddof=1)
        print(f"  {est:8s} std {x.std(ddof=1) * 1e3:6.2f} nm  mean quoted error {err.mean() * 1e3:6.2f} nm  "
              f"(std/error {x.std(ddof=1) / err.mean():.2f})  bias {(x.mean() - truth) * 1e3:+6.2f} nm  "
              f"efficiency {efficiency[est]:.2f}  ({ok.sum()} shots)")
    if target is not None:
        est, value = target
        print(f"  target efficiency >= {value} for the {est} estimator: "
              f"{'met' if efficiency[est] >= value else 'MISSED'}")
    return efficiency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shots", type=int, default=500)
    parser.add_argument("--template", type=int, default=200, help="shots aligned into the template")
    args = parser.parse_args()
    n, k = args.shots, min(args.template, args.shots)
    params = [3000, 63.3, 31.5, 6.0, 6.0, 0.0]
    run("Gaussian cloud (fit: gaussian profile model)", gaussian_cloud(params), gaussian_cloud, params, "gaussian", n,
        k, seed=1, target=("fit", 0.8))
    params = [1.0, 63.3, 31.5, 12.0, 1.5, 0.0]
    run("Flat-topped cloud (fit: thomas_fermi profile model)", flat_cloud(params), flat_cloud, params,
        "thomas_fermi", n, k, seed=2)
    params = [0.8, 63.3, 31.5, 20.0, 2.0, 0.0]
    run("Ring (fit: gaussian profile model)", ring_cloud(params), ring_cloud, params, "gaussian", n, k, seed=3,
        target=("template", 0.9))
    tf = blurred_thomas_fermi()
    run("Blurred 3D Thomas-Fermi cloud (fit: thomas_fermi profile model)", tf, shifted(tf, (63.3, 31.5)),
        [1.0, 63.3, 31.5, 0.0], "thomas_fermi", n, k, seed=4, target=("template", 0.9))
    shape = in_situ_shape()
    if shape is None:
        print("Real in-situ shape: skipped (tests/data/real/oqtant-insitu not found)")
    else:
        profile = shape.sum(axis=0)
        centre = (float((np.arange(SHAPE[1]) * profile).sum() / profile.sum()),
                  float((np.arange(SHAPE[0]) * shape.sum(axis=1)).sum() / shape.sum()))
        run("Real in-situ shape, oqtant ShortOnlyExpt_rep_0 (fit: gaussian profile model)", shape,
            shifted(shape, centre), [1.0, centre[0], centre[1], 0.0], "gaussian", n, k, seed=5,
            target=("template", 0.9))


if __name__ == "__main__":
    main()
