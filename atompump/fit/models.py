"""lmfit models of the centre of mass against pump cycles.

All positions are in um, ``dl`` is the long-lattice constant in um (the displacement of one ideal pump cycle),
``cycle`` the pump cycles completed at imaging and ``direction`` +1 (phi increasing) or -1.

``linear``            x = x0 + direction * nu * dl * cycle
``linear_drift``      x = x0 + direction * nu * dl * cycle + drift * order   (slow drift in acquisition order)
``per_direction``     x = x0 + nu_plus * dl * cycle (direction +1),  x0 - nu_minus * dl * cycle (direction -1)
``efficiency``        Lohse-type per-half-cycle efficiency beta (see :func:`efficiency_displacement`)
``differential``      dx = factor * nu * dl * cycle (pumped minus reference: factor = direction;
                      x(+) - x(-): factor = 2)

The Chern numbers of the two bands involved in the efficiency model are fixed (from theory), not fitted.
"""

from __future__ import annotations

import lmfit
import numpy as np

__all__ = [
    "linear_pump",
    "linear_drift_pump",
    "per_direction_pump",
    "efficiency_displacement",
    "efficiency_pump",
    "differential_pump",
    "make_model",
    "MODEL_NAMES",
]

MODEL_NAMES = ("linear", "linear_drift", "per_direction", "efficiency")


def linear_pump(cycle, direction, x0, nu, dl):
    """x = x0 + direction * nu * dl * cycle."""
    return x0 + direction * nu * dl * cycle


def linear_drift_pump(cycle, direction, order, x0, nu, drift, dl):
    """x = x0 + direction * nu * dl * cycle + drift * order (drift in um per shot of acquisition order)."""
    return x0 + direction * nu * dl * cycle + drift * order


def per_direction_pump(cycle, direction, x0, nu_plus, nu_minus, dl):
    """Separate displacements per cycle for the two pump directions, common x0."""
    nu = np.where(direction > 0, nu_plus, nu_minus)
    return x0 + direction * nu * dl * cycle


def _smooth_step(z):
    return 0.5 * (1.0 + np.tanh(z))


def efficiency_displacement(cycle, beta, *, chern_lower: int = 1, chern_upper: int = -1,
                            step_width: float = 0.02):
    """Displacement (in units of dl) after ``cycle`` pump cycles with efficiency ``beta`` per half cycle.

    The lowest band's Wannier centre moves in steps of ``C1 dl / 2`` at the symmetric double-well points
    phi = l pi (cycle = l / 2), where the gap is smallest. At each step a fraction ``beta`` of the atoms still in
    the lowest band follows it adiabatically; the rest is left behind (it does not move at that step) in the
    first excited band, whose atoms move by ``C2 dl / 2`` at every later step (Lohse et al., Nat. Phys. 12, 350
    (2016): the second band moves opposite to the first, C2 = -1). The state is prepared at phi = 0, half way
    through the step l = 0, so for ``beta = 1`` the displacement after n cycles is exactly ``n C1``.

    Step l therefore carries ``s_l = C1 beta^(l+1) + C2 (1 - beta^l)`` (population beta^l in the lowest band
    before it) and is smoothed with a tanh of width ``step_width`` cycles.

    Parameters
    ----------
    cycle : array_like
        Pump cycles (>= 0).
    beta : float
        Efficiency per half cycle, 0..1.

    Returns
    -------
    ndarray
        Displacement in units of dl, same shape as ``cycle``.
    """
    cycle = np.asarray(cycle, dtype=float)
    n_steps = int(np.ceil(2.0 * float(np.max(cycle, initial=0.0)))) + 2
    l = np.arange(n_steps)
    s = chern_lower * beta ** (l + 1) + chern_upper * (1.0 - beta**l)
    centres = l / 2.0
    w = max(step_width, 1e-6)
    progress = _smooth_step((cycle[..., None] - centres) / w) - _smooth_step(-centres / w)
    return 0.5 * (progress * s).sum(axis=-1)


def efficiency_pump(cycle, direction, x0, beta, dl, chern_lower=1, chern_upper=-1, step_width=0.02):
    """x = x0 + direction * dl * efficiency_displacement(cycle, beta)."""
    return x0 + direction * dl * efficiency_displacement(cycle, beta, chern_lower=chern_lower,
                                                         chern_upper=chern_upper, step_width=step_width)


def differential_pump(cycle, factor, nu, dl):
    """Differential displacement dx = factor * nu * dl * cycle."""
    return factor * nu * dl * cycle


def make_model(name: str) -> lmfit.Model:
    """The lmfit Model called ``name``, with parameter hints (starting values and physical bounds).

    ``nu`` is bounded to [-10, 10] (displacements per cycle beyond 10 lattice constants are not a pump),
    ``beta`` to [0, 1].
    """
    if name == "linear":
        model = lmfit.Model(linear_pump, independent_vars=["cycle", "direction", "dl"], name="linear")
    elif name == "linear_drift":
        model = lmfit.Model(linear_drift_pump, independent_vars=["cycle", "direction", "order", "dl"],
                            name="linear_drift")
        model.set_param_hint("drift", value=0.0)
    elif name == "per_direction":
        model = lmfit.Model(per_direction_pump, independent_vars=["cycle", "direction", "dl"], name="per_direction")
        for p in ("nu_plus", "nu_minus"):
            model.set_param_hint(p, value=1.0, min=-10.0, max=10.0)
    elif name == "efficiency":
        model = lmfit.Model(efficiency_pump, independent_vars=["cycle", "direction", "dl"], name="efficiency")
        model.set_param_hint("beta", value=0.98, min=0.0, max=1.0)
        model.set_param_hint("chern_lower", value=1, vary=False)
        model.set_param_hint("chern_upper", value=-1, vary=False)
        model.set_param_hint("step_width", value=0.02, vary=False)
    elif name == "differential":
        model = lmfit.Model(differential_pump, independent_vars=["cycle", "factor", "dl"], name="differential")
    else:
        raise ValueError(f"unknown fit model {name!r}; choose one of {[*MODEL_NAMES, 'differential']}")
    if "nu" in model.param_names:
        model.set_param_hint("nu", value=1.0, min=-10.0, max=10.0)
    if "x0" in model.param_names:
        model.set_param_hint("x0", value=0.0)
    return model
