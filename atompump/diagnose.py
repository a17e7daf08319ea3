"""Why a shot cannot be measured: the true cause, found from its frames or its optical density.

A shot that the reduction cannot use is rejected with a reason that names what went wrong with the *input*, so that
the user knows what to check in the lab, not what went wrong in an algorithm downstream. The checks here are pure
(numpy in, a reason string out, empty when nothing is wrong) and cheap (a few passes over the region of interest);
:func:`atompump.stages.reduce.reduce_batch_stage` runs them on every shot.

Camera frames (:func:`frames_problem`), over the region of interest, in this order:

* **camera saturated in the atoms frame** (or **in the probe frame**): at least half of the pixels at or above
  ``imaging.saturation_counts``. Such pixels are masked, and would otherwise be reported as missing probe light.
* **dark frame brighter than the probe frame**: most pixels have no probe light *and* the dark frame is brighter
  than the probe frame by more than ``imaging.min_probe_counts`` (median): the two look swapped.
* **no probe light**: at least half of the pixels have less than ``imaging.min_probe_counts`` of probe light.
* **no light in the atoms frame**: at least 90 % of the pixels that have probe light have less than
  ``imaging.min_probe_counts`` in the atoms frame (above dark): the probe was off or blocked during the atoms
  exposure. (An absorbing cloud darkens only its own pixels; the region of interest has a margin around it.)

Optical density (:func:`od_sign_problem`), over the region of interest: the OD against the shot's own probe frame
(whatever reference the reduction uses; the median check only when it uses that one), or as read for OD input.
Absorption makes the OD positive, noise and probe drifts scatter it around zero, so:

The OD is first averaged over blocks of 4 x 4 pixels (fast, and less noisy); then

* **atoms frame brighter than the probe frame** (OD input: **negative optical density**): the median OD is below
  :data:`MIN_MEDIAN_OD` = -0.3, i.e. 35 % more light with atoms than without; probe-intensity drifts between
  two exposures are a few percent. Frames swapped, or the probe exposure lacked light.
* **negative optical density (a dip, not a cloud)**: the strongest structure is negative: the block-averaged OD
  reaches further below the background (the median of the blocks along the edge of the region of interest, which
  has a margin around the cloud) than above it, 0.05th against 99.95th percentile of the blocks, by a factor
  :data:`DIP_RATIO` = 3, and by more than 5 robust standard deviations of the edge blocks (interquartile range /
  1.349) and 0.1 in OD. A real
  cloud is a peak; fringes and noise are symmetric. Frames swapped (or, for OD input, the sign convention).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from atompump.reasons import Reason, RejectCause

__all__ = ["DIP_RATIO", "MIN_MEDIAN_OD", "frames_problem", "od_sign_problem", "own_probe_block_od"]

MIN_MEDIAN_OD = -0.3
"""Median OD over the region of interest below which the atoms frame is brighter than the probe frame."""
DIP_RATIO = 3.0
"""How much further the OD must reach below its median than above it to be a dip rather than a cloud."""
_MOSTLY = 0.5  # fraction of the region of interest that makes a cause dominant
_BLOCK = 4  # pixels per side of the blocks the OD is averaged over
_NO_ATOMS_LIGHT = 0.9  # fraction of the lit pixels without light in the atoms frame


def frames_problem(atoms: np.ndarray, probe: np.ndarray, dark: np.ndarray, *, min_probe_counts: float,
                   saturation_counts: float | None, sources: Mapping[str, str]) -> Reason:
    """Why the raw frames of a shot cannot give an optical density (empty when they can); see the module docstring.

    Parameters
    ----------
    atoms, probe, dark : ndarray, shape (ny, nx)
        The frames over the region of interest, camera counts.
    min_probe_counts, saturation_counts : float
        ``imaging.min_probe_counts`` and ``imaging.saturation_counts`` (None: no saturation check).
    sources : mapping
        ``atoms``, ``probe``, ``dark`` -> where each frame came from (file and frame), named in the reason.
    """
    size = max(np.size(atoms), 1)
    for name, frame in (("atoms", atoms), ("probe", probe)):
        if saturation_counts is not None:
            saturated = np.count_nonzero(frame >= saturation_counts) / size
            if saturated >= _MOSTLY:
                return Reason(f"camera saturated in the {name} frame: {saturated:.0%} of the region of interest at "
                              f"or above imaging.saturation_counts = {saturation_counts:g} ({sources[name]}); lower "
                              "the probe intensity or the exposure time, or raise imaging.saturation_counts if the "
                              "camera's limit is higher",
                              RejectCause.ATOMS_SATURATED if name == "atoms" else RejectCause.PROBE_SATURATED)
    lit = probe - dark >= min_probe_counts
    n_lit = np.count_nonzero(lit)
    unlit = 1.0 - n_lit / size
    if unlit >= _MOSTLY:
        excess = float(np.median(dark - probe))
        if excess > min_probe_counts:
            return Reason(f"dark frame brighter than the probe frame: {unlit:.0%} of the region of interest has no "
                          f"probe light and the dark frame is {excess:.0f} counts brighter than the probe frame "
                          f"(median) ({sources['dark']}, {sources['probe']}); the probe and dark frames look swapped: "
                          "check the manifest columns probe and dark (or data.frames)", RejectCause.DARK_BRIGHTER)
        return Reason(f"no probe light: only {1.0 - unlit:.1%} of the region of interest has probe light above "
                      f"{min_probe_counts:g} counts ({sources['probe']}); check the probe beam or "
                      "imaging.min_probe_counts", RejectCause.NO_PROBE_LIGHT)
    dark_atoms = np.count_nonzero((atoms - dark < min_probe_counts) & lit) / max(n_lit, 1)
    if dark_atoms >= _NO_ATOMS_LIGHT:
        return Reason(f"no light in the atoms frame: {dark_atoms:.0%} of the region of interest has less than "
                      f"{min_probe_counts:g} counts above the dark frame although the probe frame has light "
                      f"({sources['atoms']}); the probe was off or blocked during the atoms exposure, or the camera "
                      "missed it: check the probe's trigger and timing", RejectCause.NO_ATOMS_LIGHT)
    return Reason()


def own_probe_block_od(atoms: np.ndarray, probe: np.ndarray, dark: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The OD against the shot's own probe frame, ``ln(sum (probe - dark) / sum (atoms - dark))`` over the valid
    pixels of each 4 x 4 block (NaN for a block without light in either sum), shape (ny // 4, nx // 4): for
    :func:`od_sign_problem` (with ``block=1``) when the reduction uses another reference, at a sixteenth of the
    cost of a per-pixel OD."""
    ny, nx = (atoms.shape[0] // _BLOCK) * _BLOCK, (atoms.shape[1] // _BLOCK) * _BLOCK
    cut = (slice(0, ny), slice(0, nx))
    use = np.asarray(valid, bool)[cut]
    every = use.all()  # then no masked copies: block sums of the frames themselves

    def sums(frame: np.ndarray) -> np.ndarray:
        return _block_sums(frame[cut] if every else np.where(use, frame[cut], 0.0), _BLOCK)

    dark_sums = sums(dark)
    i_in, i_out = sums(probe) - dark_sums, sums(atoms) - dark_sums
    lit = (i_in > 0) & (i_out > 0)
    return np.where(lit, np.log(np.where(lit, i_in, 1.0) / np.where(lit, i_out, 1.0)), np.nan)


def od_sign_problem(od: np.ndarray, valid: np.ndarray | None = None, *, sources: Mapping[str, str],
                    od_input: bool = False, check_median: bool = True, block: int = _BLOCK) -> Reason:
    """Why an optical density is not an absorption image (empty when it is); see the module docstring.

    Parameters
    ----------
    od : ndarray, shape (ny, nx)
        Optical density over the region of interest (NaN where masked).
    valid : ndarray of bool, optional
        Pixels to use (default: the finite ones).
    sources : mapping
        For frames: ``atoms`` and ``probe`` -> their sources; for OD input: ``od`` -> the image's source.
    od_input : bool, keyword-only
        The OD was given as such (manifest column ``od``): the advice is about the file's sign convention, not
        about swapped frames.
    check_median : bool, keyword-only
        Check the median (False: only the dip). The reduction passes False for the OD against the shot's own probe
        frame when the OD itself uses the fringe-free reference: that reference is fitted to the atoms frame, so a
        probe frame with less light than the atoms frame does not spoil the measurement.
    block : int, keyword-only
        Pixels per side of the blocks averaged first (1: ``od`` is averaged already, e.g.
        :func:`own_probe_block_od`).
    """
    od = np.asarray(od, dtype=np.float64)
    use = np.isfinite(od) if valid is None else (np.asarray(valid, bool) & np.isfinite(od))
    image = np.where(use, od, np.nan) if block == 1 else _block_mean_image(np.where(use, od, 0.0), use, block)
    blocks = image[np.isfinite(image)]
    if blocks.size < 16:
        return Reason()
    where = sources["od"] if od_input else f"{sources['atoms']}, {sources['probe']}"
    low, median, high = _quantiles(blocks, (0.0005, 0.5, 0.9995))
    if check_median and median < MIN_MEDIAN_OD:
        if od_input:
            return Reason(f"negative optical density: the median OD over the region of interest is {median:.3g} "
                          f"({where}); an OD is ln(I_in / I_out), positive where atoms absorb and near 0 elsewhere: "
                          "check the sign convention and the background subtraction with which the file was written",
                          RejectCause.NEGATIVE_OD)
        return Reason(f"atoms frame brighter than the probe frame: the median OD over the region of interest is "
                      f"{median:.3g}, {np.expm1(-median):.0%} more light with atoms than without ({where}); check "
                      "that the atoms and probe frames are not swapped (manifest columns atoms and probe, or "
                      "data.frames) and that the probe exposure had its full light (pulse length, shutter, timing)",
                      RejectCause.ATOMS_BRIGHTER)
    edge = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    edge = edge[np.isfinite(edge)]
    if edge.size < 8:
        edge = blocks
    q25, background, q75 = _quantiles(edge, (0.25, 0.5, 0.75))
    spread = (q75 - q25) / 1.349  # robust standard deviation (interquartile range of a normal distribution)
    depth, height = background - low, high - background
    if depth > max(5.0 * spread, 0.1) and depth > DIP_RATIO * max(height, 0.0):
        advice = ("check the sign convention with which the file was written (OD = ln(I_in / I_out), positive where "
                  "atoms absorb)" if od_input else "the atoms and probe frames look swapped: check the manifest "
                                                   "columns atoms and probe (or data.frames)")
        return Reason(f"negative optical density (a dip, not a cloud): the strongest structure of the region of "
                      f"interest lies {depth:.3g} below the background OD at its edge against {height:.3g} above it "
                      f"({where}); {advice}", RejectCause.NEGATIVE_OD)
    return Reason()


def _quantiles(values: np.ndarray, fractions: tuple[float, ...]) -> list[float]:
    """Nearest-rank quantiles of ``values`` (one partial sort; much faster than ``np.percentile`` on small arrays)."""
    ranks = [int(round(f * (values.size - 1))) for f in fractions]
    ordered = np.partition(values, sorted(set(ranks)))
    return [float(ordered[r]) for r in ranks]


def _block_mean_image(values: np.ndarray, use: np.ndarray, size: int) -> np.ndarray:
    """Means of ``values`` over the ``use`` pixels of each ``size`` x ``size`` block (NaN for a block without any),
    shape (ny // size, nx // size); an image smaller than one block is returned as it is (NaN where not used)."""
    ny, nx = (values.shape[0] // size) * size, (values.shape[1] // size) * size
    if ny == 0 or nx == 0:
        return np.where(use, values, np.nan)
    sums = _block_sums(values[:ny, :nx], size)
    counts = _block_sums(use[:ny, :nx].view(np.uint8), size)  # at most size^2 <= 255
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def _block_sums(image: np.ndarray, size: int) -> np.ndarray:
    """Sums over ``size`` x ``size`` blocks of an image of whole blocks (strided slices added: several times faster
    than a reduction over a 4D view)."""
    rows = sum(image[i::size] for i in range(1, size)) + image[0::size]
    return sum(rows[:, j::size] for j in range(1, size)) + rows[:, 0::size]
