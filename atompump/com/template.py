"""The ``template`` estimator: each shot registered against the run's own mean cloud, for clouds of any shape.

Template (:func:`build_template`)
---------------------------------
The run's mean cloud, aligned iteratively from the shots themselves: each sampled shot's background-corrected OD
is shifted (cubic splines) so that its centre sits at the run's mean position, the shifted images are averaged
(masked pixels left out), and the shifts are then refined by registering each shot against the mean of the others
(leave-one-out), ``iterations`` times. Its reference point ``x_ref`` is the template's own first moment (the
:mod:`atompump.com.moment` window on the template), so that for a cloud whose shape does not change the registered
position ``x_ref + s`` is the first moment of the shot, and the two estimators can be compared shot by shot.

A mean of ``n`` shots still holds ``1/n`` of their noise, and the registration uses the template's derivatives,
which amplify it: the Fisher information would be overestimated (errors too small) and the shift estimate would
scatter more (on real frames with 23 shots: errors 10 % too small, scatter 20 % larger than with the true shape).
The template is therefore smoothed by the narrowest Gaussian (:func:`choose_smoothing`) after which the noise's
share of its squared derivative over the window, measured on the template's own atom-free pixels, is below 5 %.
A smoothing much narrower than the cloud does not bias the shift (it is symmetric) and costs little precision.

Registration (:func:`register`)
-------------------------------
Per shot, the model ``A T(x - s, y - t) + b`` (shift ``s`` along the pump axis, ``t`` across it, amplitude, offset;
``T`` the cubic-spline interpolant of the template, its derivatives by central differences of the same spline)
is fitted to the pixels of the estimators' window by Gauss–Newton weighted with the per-pixel variances, started
from the first moment, each step limited to one pixel (a damped step cannot run away); after ``max_iterations``
the last step is kept (a deterministic rule, flagged in ``converged``). A shot that is part of the template is
registered against the template without itself (leave-one-out), so its own noise does not pull it.

Error: the shift's linear response to the pixels is the row of ``H^-1 J^T W`` (``H`` the Hessian of chi^2/2,
``J^T W J`` minus the residual-weighted curvature of the model: the sandwich form, since a smoothed template does
not match a shot exactly); its variance under the measured noise (:func:`atompump.com.noise.response_variance`)
is multiplied by ``1 + 1/n`` for the noise of a template averaged over ``n`` shots. The bound ``crb_um`` is that of
the same model under independent pixel noise of the measured variances: for a template equal to the true shape it is
the Cramér–Rao bound of the image.

The registered shift measures where the run's mean shape sits in this shot, not the shot's centre of mass: if the
pumping changes the cloud's shape (atoms at the trap's edges are not transported), the two differ by an amount that
grows with the pump cycles. :func:`atompump.stages.com.estimator_consistency` compares them cycle by cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from atompump.com.bounds import cramer_rao_bound
from atompump.com.noise import NoiseModel, response_variance

__all__ = ["PreparedTemplate", "Template", "TemplateFit", "aligned_image", "build_template", "choose_smoothing",
           "cloud_model", "prepare_template", "register", "template_reference", "translated"]

SMOOTHING_WIDTHS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Candidate RMS widths (pixels) of the template's smoothing, narrowest first."""


@dataclass(frozen=True)
class PreparedTemplate:
    """A template ready for registration: smoothed, as cubic-spline coefficients.

    Attributes
    ----------
    coefficients : ndarray, shape (ny, nx)
        Spline coefficients of the smoothed template.
    x_ref, y_ref : float
        Reference point (column, row), pixels.
    n_shots : int
        Shots averaged into it.
    """

    coefficients: np.ndarray
    x_ref: float
    y_ref: float
    n_shots: int


@dataclass(frozen=True)
class Template:
    """The run's mean cloud (pump axis along columns).

    Attributes
    ----------
    sum, weight : ndarray, shape (ny, nx)
        Sum of the aligned background-corrected ODs and the number of shots behind each pixel; the template is
        ``sum / weight``.
    x_ref, y_ref : float
        The template's first moment, pixels (column, row).
    smoothing_px : float
        RMS width of the Gaussian smoothing applied before registration (:func:`choose_smoothing`), pixels.
    shots : tuple of str
        The shots averaged.
    shifts : ndarray, shape (n, 2)
        Each averaged shot's final alignment shift (rows, columns), pixels.
    backgrounds : ndarray, shape (n,)
        The background OD subtracted from each averaged shot.
    """

    sum: np.ndarray
    weight: np.ndarray
    x_ref: float
    y_ref: float
    smoothing_px: float
    shots: tuple[str, ...] = ()
    shifts: np.ndarray | None = None
    backgrounds: np.ndarray | None = None
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def image(self) -> np.ndarray:
        return _mean(self.sum, self.weight)

    @property
    def n_shots(self) -> int:
        return len(self.shots) if self.shots else int(np.round(self.weight.max()))

    def prepared(self, shot: str | None = None, od: np.ndarray | None = None,
                 valid: np.ndarray | None = None) -> PreparedTemplate:
        """The template for registering ``shot``: without it when it is one of the averaged shots (leave-one-out,
        from its ``od`` and ``valid``), else the whole template (prepared once and kept)."""
        if shot is not None and shot in self.shots:
            i = self.shots.index(shot)
            aligned, weight = aligned_image(od, valid, self.shifts[i], self.backgrounds[i])
            return prepare_template(_mean(self.sum - aligned, self.weight - weight), smoothing_px=self.smoothing_px,
                                    x_ref=self.x_ref, y_ref=self.y_ref, n_shots=self.n_shots - 1)
        if "all" not in self._cache:
            self._cache["all"] = prepare_template(self.image, smoothing_px=self.smoothing_px, x_ref=self.x_ref,
                                                  y_ref=self.y_ref, n_shots=self.n_shots)
        return self._cache["all"]


@dataclass(frozen=True)
class TemplateFit:
    """Registration of one shot against the template.

    Attributes
    ----------
    x_um, x_err_um : float
        Registered position ``(x_ref + s) * pixel`` along the pump axis and its uncertainty, um.
    crb_um : float
        Cramér–Rao bound of the shift under independent pixel noise, um.
    y_um : float
        Registered position across the pump axis, um.
    amplitude : float
        The shot's amplitude relative to the template.
    reduced_chi2 : float
        Reduced chi-square with the per-pixel variances.
    converged : bool
        The Gauss–Newton steps settled (else the last step is used).
    reject_reason : str
    white_err_um : float
        The error from the white part of the noise alone, um.
    """

    x_um: float
    x_err_um: float
    crb_um: float
    y_um: float
    amplitude: float
    reduced_chi2: float
    converged: bool = True
    reject_reason: str = ""
    white_err_um: float = float("nan")


def _mean(total: np.ndarray, weight: np.ndarray) -> np.ndarray:
    return np.where(weight > 0.5, total / np.maximum(weight, 1e-12), 0.0)


def aligned_image(od: np.ndarray, valid: np.ndarray, shift: tuple[float, float] | np.ndarray,
                  background: float) -> tuple[np.ndarray, np.ndarray]:
    """``od - background`` moved by ``-shift`` (rows, columns) so the shot's cloud sits at the template's place, and
    the weight (1 where every interpolated pixel was valid, else 0)."""
    from scipy import ndimage

    dy, dx = float(shift[0]), float(shift[1])
    filled = np.where(valid, od - background, 0.0)
    moved = ndimage.shift(filled, (-dy, -dx), order=3, mode="constant", cval=0.0)
    weight = ndimage.shift(valid.astype(float), (-dy, -dx), order=1, mode="constant", cval=0.0) > 0.999
    return np.where(weight, moved, 0.0), weight.astype(float)


def choose_smoothing(image: np.ndarray, atom_free: np.ndarray, *, rows: tuple[int, int], columns: tuple[int, int],
                     max_noise_share: float = 0.05) -> float:
    """The narrowest smoothing (:data:`SMOOTHING_WIDTHS`) after which the template's own noise makes up at most
    ``max_noise_share`` of its squared derivative along the pump axis over the window.

    The noise's share is measured, not modelled: the mean squared derivative of the smoothed template over its
    atom-free pixels (pure noise there, whatever its spectrum: residual fringes are correlated over many pixels and
    survive a narrow smoothing) times the window's pixel count, against the squared derivative summed over the
    window.
    """
    from scipy import ndimage

    r0, r1 = rows
    c0, c1 = columns
    n = (r1 - r0) * (c1 - c0)
    free = np.asarray(atom_free, bool)
    for width in SMOOTHING_WIDTHS:
        derivative = np.gradient(ndimage.gaussian_filter(image, width, mode="nearest"), axis=1)
        interior = free & (ndimage.distance_transform_edt(free) > 2.0 * width)
        if interior.sum() < 64:
            return width
        noise = float(np.mean(derivative[interior] ** 2)) * n
        signal = float((derivative[r0:r1, c0:c1] ** 2).sum()) - noise
        if noise <= max_noise_share * signal:
            return width
    return SMOOTHING_WIDTHS[-1]


def prepare_template(image: np.ndarray, *, smoothing_px: float, x_ref: float, y_ref: float,
                     n_shots: int) -> PreparedTemplate:
    """Smooth a template image and compute its cubic-spline coefficients."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(image, smoothing_px, mode="nearest") if smoothing_px > 0 else image
    return PreparedTemplate(ndimage.spline_filter(smooth, order=3, mode="constant"), float(x_ref), float(y_ref),
                            int(n_shots))


def translated(coefficients: np.ndarray, *, rows: tuple[int, int], columns: tuple[int, int], s: float,
               t: float) -> np.ndarray:
    """The cubic spline with ``coefficients`` at the pixels of a window, translated by ``(s, t)`` pixels.

    Returns ``T(x - s, y - t)`` for ``y`` in ``range(*rows)`` and ``x`` in ``range(*columns)`` (shape
    ``(rows[1] - rows[0], columns[1] - columns[0])``), the numbers of ``scipy.ndimage.map_coordinates(coefficients,
    ..., order=3, prefilter=False, mode="constant", cval=0)``: taps beyond the array mirrored (``np.pad``'s
    ``reflect``), samples outside ``[0, n - 1]`` zero. A translation samples every pixel at the same fractional
    offset, so the cubic B-spline's four weights per axis are the same for all pixels and the 4 x 4 sum factorises
    into two passes over four shifted slices: 8 multiply-adds per pixel instead of a general interpolation (about
    6x faster on a 250 x 250 window), equal to it to rounding (tests/test_template_translation.py).
    """
    r0, r1 = rows
    c0, c1 = columns
    n_rows, n_cols = coefficients.shape
    ny, nx = int(np.floor(-t)), int(np.floor(-s))
    h, w = r1 - r0, c1 - c0
    if r0 + ny - 1 >= 0 and c0 + nx - 1 >= 0 and r1 + ny + 2 <= n_rows and c1 + nx + 2 <= n_cols:
        block = coefficients[r0 + ny - 1:r1 + ny + 2, c0 + nx - 1:c1 + nx + 2]
        inside = None
    else:
        block = coefficients[np.ix_(_mirrored(np.arange(r0 + ny - 1, r1 + ny + 2), n_rows),
                                    _mirrored(np.arange(c0 + nx - 1, c1 + nx + 2), n_cols))]
        y, x = np.arange(r0, r1) - t, np.arange(c0, c1) - s
        inside = ((y >= 0) & (y <= n_rows - 1))[:, None] & ((x >= 0) & (x <= n_cols - 1))[None, :]
    wy, wx = _bspline3_weights(-t - ny), _bspline3_weights(-s - nx)
    along_y = wy[0] * block[0:h] + wy[1] * block[1:h + 1] + wy[2] * block[2:h + 2] + wy[3] * block[3:h + 3]
    out = (wx[0] * along_y[:, 0:w] + wx[1] * along_y[:, 1:w + 1] + wx[2] * along_y[:, 2:w + 2]
           + wx[3] * along_y[:, 3:w + 3])
    return out if inside is None else np.where(inside, out, 0.0)


def _mirrored(index: np.ndarray, n: int) -> np.ndarray:
    """Indices reflected into ``0..n-1`` about the end samples (``np.pad(..., mode="reflect")``)."""
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    m = np.mod(index, period)
    return np.where(m > n - 1, period - m, m)


def _bspline3_weights(f: float) -> tuple[float, float, float, float]:
    """Cubic B-spline weights of the taps at -1, 0, 1, 2 for a sample at fractional offset ``0 <= f < 1``."""
    g = 1.0 - f
    return g**3 / 6.0, (3.0 * f**3 - 6.0 * f**2 + 4.0) / 6.0, (3.0 * g**3 - 6.0 * g**2 + 4.0) / 6.0, f**3 / 6.0


def register(od: np.ndarray, valid: np.ndarray, template: PreparedTemplate, *, pixel_size_um: float,
             rows: tuple[int, int], columns: tuple[int, int], noise: NoiseModel, start: tuple[float, float],
             max_iterations: int = 30) -> TemplateFit:
    """Register one shot against a template (see the module docstring).

    Parameters
    ----------
    od, valid : ndarray, shape (ny, nx)
        The shot (pump axis along columns).
    template : PreparedTemplate
        On the same pixel grid (:meth:`Template.prepared`).
    pixel_size_um : float, keyword-only
    rows, columns : (int, int), keyword-only
        The window of pixels fitted.
    noise : NoiseModel, keyword-only
        The shot's measured noise (weights, and the error).
    start : (column, row), keyword-only
        Starting position of the cloud (pixels), e.g. its first moment.
    max_iterations : int, keyword-only

    Returns
    -------
    TemplateFit
    """
    r0, r1 = rows
    c0, c1 = columns
    use = valid[r0:r1, c0:c1]
    data = np.where(use, od[r0:r1, c0:c1], 0.0).ravel()
    variance = noise.pixel_variances()[r0:r1, c0:c1].ravel()
    w = np.where(use.ravel(), 1.0 / variance, 0.0)

    def at(s: float, t: float) -> np.ndarray:
        return translated(template.coefficients, rows=rows, columns=columns, s=s, t=t).ravel()

    def evaluate(s: float, t: float):
        """The model and its derivatives (forward differences of the same spline, step 1e-3 pixel: enough to step)."""
        h = 1e-3
        value = at(s, t)
        return value, (value - at(s + h, t)) / h, (value - at(s, t + h)) / h

    def jacobian(amplitude, tv, txv, tyv):
        return np.array([-amplitude * txv, -amplitude * tyv, tv, np.ones(tv.size)])

    s, t = start[0] - template.x_ref, start[1] - template.y_ref
    tv, txv, tyv = evaluate(s, t)
    design = np.array([tv, np.ones(tv.size)])
    amplitude, offset = np.linalg.lstsq((design * np.sqrt(w)).T, data * np.sqrt(w), rcond=None)[0]
    converged = False
    for _ in range(max_iterations):
        jac = jacobian(amplitude, tv, txv, tyv)
        try:
            step = np.linalg.solve((jac * w) @ jac.T, (jac * w) @ (data - amplitude * tv - offset))
        except np.linalg.LinAlgError:
            break
        largest = np.max(np.abs(step[:2]))
        if largest > 1.0:  # damped: at most one pixel per step
            step = step / largest
        s, t, amplitude, offset = s + step[0], t + step[1], amplitude + step[2], offset + step[3]
        tv, txv, tyv = evaluate(s, t)
        if abs(step[0]) < 1e-5 and abs(step[1]) < 1e-4:
            converged = True
            break
    # at the solution: the exact Jacobian of the model (central differences of the same spline, step 1e-3 pixel:
    # it must be that of the model fitted, or the error would not be the estimate's) and the Hessian of chi^2/2 with
    # the residual-weighted curvature of the model (the sandwich form, as in the profile fit): a smoothed template
    # does not match the shot exactly, and J^T W J alone would misstate the error
    h = 1e-3
    xp, xm, yp, ym = at(s + h, t), at(s - h, t), at(s, t + h), at(s, t - h)
    txv, tyv = (xm - xp) / (2 * h), (ym - yp) / (2 * h)
    txx, tyy = (xm + xp - 2 * tv) / h**2, (ym + yp - 2 * tv) / h**2
    txy = (at(s - h, t - h) - at(s + h, t - h) - at(s - h, t + h) + at(s + h, t + h)) / (4 * h**2)
    jac = jacobian(amplitude, tv, txv, tyv)
    residual = data - amplitude * tv - offset
    curvature = np.zeros((4, 4))
    wr = w * residual
    for (j, k), second in {(0, 0): amplitude * txx, (1, 1): amplitude * tyy, (0, 1): amplitude * txy,
                           (0, 2): -txv, (1, 2): -tyv}.items():
        curvature[j, k] = curvature[k, j] = float(wr @ second)
    try:
        response = np.linalg.solve((jac * w) @ jac.T - curvature, jac * w)[0]
    except np.linalg.LinAlgError:
        return TemplateFit(np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, False,
                           "template registration failed: the template does not constrain the shift")
    gradient = np.zeros_like(od)
    gradient[r0:r1, c0:c1] = response.reshape(use.shape)
    inflate = 1.0 + 1.0 / max(template.n_shots, 1)
    var = response_variance(gradient, noise) * inflate
    white = noise.white_variance * float((gradient**2 * noise.factor).sum()) * inflate
    crb = cramer_rao_bound(jac[:, w > 0], variance[w > 0], index=0)
    pix = pixel_size_um
    return TemplateFit(x_um=float((template.x_ref + s) * pix),
                       x_err_um=float(np.sqrt(var) * pix) if var > 0 else np.nan,
                       crb_um=float(crb * pix), y_um=float((template.y_ref + t) * pix), amplitude=float(amplitude),
                       reduced_chi2=float((w * residual**2).sum() / max(int(use.sum()) - 4, 1)),
                       converged=converged, white_err_um=float(np.sqrt(white) * pix) if white > 0 else np.nan)


def template_reference(image: np.ndarray, weight: np.ndarray, *, window_margin: float = 0.5
                       ) -> tuple[float, float, np.ndarray]:
    """The template's first moment (column, row), pixels, and its atom-free pixels: the moment estimator's window on
    the template itself, so that a shot of the template's shape registers at its own first moment."""
    from atompump.com.moment import _moment_in_window, cloud_window
    from atompump.com.noise import white_noise
    from atompump.com.support import find_cloud

    valid = weight > 0
    support = find_cloud(image, valid, frame_edges=(False, False, False, False))
    if not support.region.any():
        raise ValueError(f"the run's mean cloud shows no cloud: {support.reject_reason}")
    window = cloud_window(support, image.shape, margin=window_margin)
    ones = np.ones_like(image)
    moment = _moment_in_window(image, valid, ones, support, window, pixel_size_um=1.0, max_iterations=50,
                               max_masked_fraction=1.0, noise=white_noise(1.0, ones))
    r0, r1 = window.rows
    rows = np.clip(np.where(valid, image - moment.background, 0.0)[r0:r1].sum(axis=1), 0.0, None)
    y_ref = float((np.arange(r0, r1) * rows).sum() / rows.sum()) if rows.sum() > 0 else support.centre[0]
    return float(moment.x_um), y_ref, support.atom_free


def build_template(images: list[np.ndarray], valids: list[np.ndarray], *, shots: list[str],
                   positions: np.ndarray, backgrounds: np.ndarray,
                   windows: list[tuple[tuple[int, int], tuple[int, int]]], noises: list[NoiseModel],
                   iterations: int = 2, window_margin: float = 0.5) -> Template:
    """Align the sampled shots into the run's mean cloud (see the module docstring).

    Parameters
    ----------
    images, valids : lists of ndarray, shape (ny, nx)
        The sampled shots' OD and valid pixels (pump axis along columns).
    shots : list of str
    positions : ndarray, shape (n, 2)
        Each shot's starting position (column, row), pixels, e.g. its first moment.
    backgrounds : ndarray, shape (n,)
        Each shot's background OD.
    windows : list of (rows, columns)
        Each shot's estimator window (for the registration).
    noises : list of NoiseModel
        Each shot's noise (the registration's weights).
    iterations : int
        Registration rounds after the first alignment by ``positions``.
    window_margin : float
        As in :func:`atompump.com.centre_of_mass` (the template's reference point).
    """
    positions = np.asarray(positions, float)
    shifts = np.column_stack([positions[:, 1] - positions[:, 1].mean(), positions[:, 0] - positions[:, 0].mean()])
    backgrounds = np.asarray(backgrounds, float)
    n = len(images)

    def sums(shifts):
        parts = [aligned_image(od, v, sh, bg) for od, v, sh, bg in zip(images, valids, shifts, backgrounds)]
        return sum(p[0] for p in parts), sum(p[1] for p in parts), parts

    total, weight, parts = sums(shifts)
    smoothing = 1.0
    for _ in range(iterations):
        image = _mean(total, weight)
        x_ref, y_ref, free = template_reference(image, weight, window_margin=window_margin)
        smoothing = choose_smoothing(image, free, rows=windows[0][0], columns=windows[0][1])
        new = shifts.copy()
        for i in range(n):
            loo = prepare_template(_mean(total - parts[i][0], weight - parts[i][1]), smoothing_px=smoothing,
                                   x_ref=x_ref, y_ref=y_ref, n_shots=n - 1)
            rows, cols = windows[i]
            fit = register(images[i], valids[i], loo, pixel_size_um=1.0, rows=rows, columns=cols,
                           noise=noises[i], start=tuple(positions[i]))
            if np.isfinite(fit.x_um):
                new[i] = (fit.y_um - y_ref, fit.x_um - x_ref)
        # the mean shift is arbitrary: keep the template at the mean position of the shots
        shifts = new - new.mean(axis=0)
        total, weight, parts = sums(shifts)
    image = _mean(total, weight)
    x_ref, y_ref, free = template_reference(image, weight, window_margin=window_margin)
    smoothing = choose_smoothing(image, free, rows=windows[0][0], columns=windows[0][1])
    return Template(total, weight, x_ref, y_ref, smoothing, tuple(shots), shifts, backgrounds)


def cloud_model(shots, *, pump_axis: str = "x", expected: np.ndarray | None = None,
                expected_shape: np.ndarray | None = None,
                frame_edges: tuple[bool, bool, bool, bool] = (True, True, True, True), window_margin: float = 0.5,
                max_masked_fraction: float = 0.05, progress=None) -> tuple[Template | None, NoiseModel | None, int]:
    """The run's cloud model from a sample of its shots: the template (:func:`build_template`) and the noise
    correlations pooled over the shots (:func:`atompump.com.noise.pool_noise`).

    Each shot is located as the estimators locate it (cloud region, window, first moment, measured noise); shots
    rejected for a physical reason (no cloud signal, cut by the frame edge, masked) are left out.

    Parameters
    ----------
    shots : iterable of (shot, od, valid, variance_factor)
        The sampled shots (natural orientation; ``valid`` and ``variance_factor`` may be None).
    pump_axis, expected, expected_shape, frame_edges, window_margin, max_masked_fraction
        As in :func:`atompump.com.locate_cloud`.
    progress : callable, optional
        Called once per shot (progress lines).

    Returns
    -------
    template, pooled_noise, n_used
        The template (None with fewer than 3 usable shots), the pooled noise (None without any) and the number of
        shots used.
    """
    from atompump.com._common import prepare
    from atompump.com.moment import _moment_in_window, cloud_window, locate_support, shot_noise
    from atompump.com.noise import pool_noise

    images, valids, names, positions, backgrounds, windows, noises = [], [], [], [], [], [], []
    for shot, od, valid, factor in shots:
        if progress is not None:
            progress()
        od, valid, factor = prepare(od, valid, factor, pump_axis)
        support = locate_support(od, valid, pump_axis=pump_axis, expected=expected, expected_shape=expected_shape,
                                 frame_edges=frame_edges)
        if not support.region.any() or support.reject_reason:
            continue
        window = cloud_window(support, od.shape, margin=window_margin)
        noise = shot_noise(od, support, window, factor)
        moment = _moment_in_window(od, valid, factor, support, window, pixel_size_um=1.0, max_iterations=20,
                                   max_masked_fraction=max_masked_fraction, noise=noise)
        if moment.reject_reason or not np.isfinite(noise.pixel_variance):
            continue
        images.append(od)
        valids.append(valid)
        names.append(str(shot))
        positions.append((moment.x_um, support.centre[0]))
        backgrounds.append(moment.background)
        windows.append((window.rows, window.columns(moment.x_um)))
        noises.append(noise)
    pooled = pool_noise(noises) if noises else None
    template = None
    if len(images) >= 3:
        template = build_template(images, valids, shots=names, positions=np.array(positions),
                                  backgrounds=np.array(backgrounds), windows=windows, noises=noises,
                                  window_margin=window_margin)
    return template, pooled, len(images)
