"""lmfit models of the centre of mass against pump cycles.

All positions are in um, ``dl`` is the long-lattice constant in um (the displacement of one ideal pump cycle),
``cycle`` the pump cycles completed at imaging and ``direction`` +1 (phi increasing) or -1.

``linear``            x = x0 + direction * nu * dl * cycle
``linear_drift``      x = x0 + direction * nu * dl * cycle + drift * order   (slow drift in acquisition order)
``per_direction``     x = x0 + nu_plus * dl * cycle (direction +1),  x0 - nu_minus * dl * cycle (direction -1)
``efficiency``        Lohse-type per-half-cycle efficiency beta (see :func:`efficiency_displacement`)
``differential``      dx = factor * nu * dl * cycle (pumped minus reference: factor = direction;
                      x(+) - x(-): factor = 2)

The Chern numbers of the two bands involved in the efficiency model are fixed (from theory), not fitted, and so is
the ramp start's loss ``start_loss`` (0 unless set).
"""

from __future__ import annotations

import lmfit
import numpy as np

from atompump.theory.nonadiabatic import pump_displacement

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


def efficiency_displacement(cycle, beta, *, chern_lower: int = 1, chern_upper: int = -1,
                            step_width: float = 0.02, start_loss: float = 0.0):
    """Displacement (in units of dl) after ``cycle`` pump cycles with efficiency ``beta`` per half cycle.

    The lowest band's Wannier centre moves in steps of ``C1 dl / 2`` at the symmetric double-well points
    phi = l pi (cycle = l / 2), where the gap is smallest; each is an avoided crossing that an atom follows
    adiabatically with probability ``beta`` (moving by ``C_b dl / 2`` with its band b) or passes diabatically with
    probability ``1 - beta`` (changing band, not moving; atoms of the first excited band come back the same way),
    Lohse et al., Nat. Phys. 12, 350 (2016), with the second band's C2 = -1. The state is prepared at phi = 0, the
    centre of step 0, so the preparation makes only the second half of that step, with the ramp start's own loss
    ``start_loss`` (:func:`atompump.theory.nonadiabatic.nonadiabatic_loss`, ``LossEstimate.start``) rather than
    ``1 - beta``. The bookkeeping (half-steps, back-transfer) is
    :func:`atompump.theory.nonadiabatic.pump_displacement`: for ``beta = 1`` and no start loss the displacement
    after n cycles is exactly ``n C1``; between cycle 1/4 and n + 1/4 (2n whole crossings) it is
    ``n * atompump.simulate.dynamics.landau_zener_displacement(1 - beta, n)``.

    Parameters
    ----------
    cycle : array_like
        Pump cycles (>= 0).
    beta : float
        Efficiency per half cycle (per crossing), 0..1.
    chern_lower, chern_upper : int, keyword-only
        Chern numbers of the lowest and the first excited band.
    step_width : float, keyword-only
        Width (cycles) of the tanh over which each half-step is made.
    start_loss : float, keyword-only
        Excited-band population made by the ramp start at phi = 0, 0..1.

    Returns
    -------
    ndarray
        Displacement in units of dl, same shape as ``cycle``.
    """
    return pump_displacement(cycle, crossing_loss=1.0 - float(beta), start_loss=start_loss, chern_lower=chern_lower,
                             chern_upper=chern_upper, step_width=max(step_width, 1e-6))


def efficiency_pump(cycle, direction, x0, beta, dl, chern_lower=1, chern_upper=-1, step_width=0.02, start_loss=0.0):
    """x = x0 + direction * dl * efficiency_displacement(cycle, beta)."""
    return x0 + direction * dl * efficiency_displacement(cycle, beta, chern_lower=chern_lower,
                                                         chern_upper=chern_upper, step_width=step_width,
                                                         start_loss=start_loss)


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
        model.set_param_hint("start_loss", value=0.0, vary=False)
    elif name == "differential":
        model = lmfit.Model(differential_pump, independent_vars=["cycle", "factor", "dl"], name="differential")
    else:
        raise ValueError(f"unknown fit model {name!r}; choose one of {[*MODEL_NAMES, 'differential']}")
    if "nu" in model.param_names:
        model.set_param_hint("nu", value=1.0, min=-10.0, max=10.0)
    if "x0" in model.param_names:
        model.set_param_hint("x0", value=0.0)
    return model
