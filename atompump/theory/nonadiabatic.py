"""Non-adiabatic loss of a two-band pump per cycle, as a function of the period T and of how the phi ramp starts.

One filled band of a Rice–Mele chain samples every quasi-momentum k; at each k the two bands form a two-level
system ``H(k, phi) = d(k, phi) . sigma`` (gap ``DeltaE = 2 |d|``) driven along the cycle by ``phi(t)``. Atoms leave
the lowest band through two channels, both computed k by k and averaged over the band:

* **Crossings** (Landau–Zener). Near each minimum of the k-resolved gap over phi, ``DeltaE^2 = g^2 + a^2 x^2``
  (``x = phi - phi_c``). Passing it at the phase velocity ``phidot`` transfers
  ``P = exp(-pi g^2 / (2 hbar a phidot))`` (:func:`landau_zener_probability`), i.e. ``exp(-2 pi delta)`` with
  ``delta = g^2 / (4 hbar a phidot)``. The minimum gap (at k = pi on the Lohse lattice) over-estimates the band's
  loss: the other k have larger gaps. Between two crossings the band-1 and band-2 amplitudes keep a definite
  relative phase ``2 zeta = int DeltaE dt / hbar - int cos(theta) dvarphi`` (dynamical plus geometric phase of the
  d-vector with polar angle theta and azimuth varphi), so two crossings interfere (Stückelberg):
  ``P_2 = 4 P (1 - P) sin^2(zeta + phi_S)`` with the Stokes phase
  ``phi_S = pi/4 + delta (ln delta - 1) + arg Gamma(1 - i delta)``. The phase is not washed out by the band
  average: the crossings transfer atoms only near k = pi, where zeta hardly depends on k. The combination is
  therefore **coherent** (the adiabatic-impulse model, Shevchenko, Ashhab & Nori, Phys. Rep. 492, 1 (2010)).
  Since 2 zeta is 10^3 to 10^4 rad, the loss oscillates with T (a period of ~0.3 ms at T = 70 ms, a factor 2 to 3
  between neighbouring extrema at T < 150 ms): a pump whose period or lattice depth is not controlled to
  ~1e-4 averages over these oscillations, and that average is the incoherent rule ``p2 -> p2 (1 - P) + (1 - p2) P``
  (back-transfer with probabilities, ``<4 P (1 - P) sin^2> = 2 P (1 - P)``), :attr:`LossEstimate.incoherent`.
* **Ramp start**. The atoms are prepared in the instantaneous lowest band at the start phase phi_s, but a moving
  lattice's adiabatic state is dressed by the first-order admixture ``alpha = hbar phidot <u2|d_phi u1> / DeltaE``
  of band 2 (the term that carries the pumped current). Starting the ramp suddenly leaves the difference as a
  free band-2 amplitude: first-order adiabatic perturbation theory gives
  ``P_start = (hbar phidot)^2 g_phiphi / DeltaE^2`` at each k (g_phiphi = |<u2|d_phi u1>|^2 the quantum metric),
  averaged over the band (:attr:`LossEstimate.start_first_order`), resummed as
  ``(1 - (1 + 4 |alpha|^2)^(-1/2)) / 2`` so that it saturates at 1/2 in the sudden limit. It falls as 1/T^2. Where
  the start phase lies inside a crossing (the Lohse pump starts at phi = 0, the symmetric double well, where the
  gap is smallest) first-order theory is only the large-T limit (21 % low at T = 400 ms on the Lohse
  lattice): there the start is the truncated Landau–Zener problem, which is integrated on the linearised crossing
  ``H = (a x sigma_z + g sigma_x) / 2`` from the start to a few widths past the centre (a universal two-level
  problem in the crossing's own units, not the lattice's dynamics).
* **Smooth ramp-on**. The phase velocity rises as ``phidot(t) = (2 pi / T) sin^2(pi t / (2 tau))`` for
  ``t < tau`` (and ``2 pi / T`` after; the ramp costs tau/2 of phase-time). First-order theory gives the free
  amplitude ``-alpha F(DeltaE tau / hbar)`` with the ramp's form factor (Fourier transform of ``d phidot/dt``)
  ``F(w) = pi^2 (1 + exp(i w)) / (2 (pi^2 - w^2))``, ``|F|^2 = pi^4 cos^2(w/2) / (pi^2 - w^2)^2 ~ (pi/w)^4`` for
  ``w >> pi``: a ramp longer than a few ``hbar / DeltaE`` suppresses the start channel. Inside a crossing the ramp
  is integrated on the linearised crossing as above.

Loss definition: the band-2 population, averaged over the filled band's k, at the end phase (by default the
first maximum of the gap at or after ``phi_s + 2 pi``, where the first-order dressing is negligible), i.e. after
the start and every crossing of one cycle (a later ``end_phase`` gives the loss after more cycles, with every
crossing on the way). Between the start's window and the crossings the amplitudes are carried adiabatically, in
the first-order dressed (superadiabatic) basis.

Units: energies in the model's unit E (Er,s for the superlattice), times in ``hbar / E``, phases in rad.
:func:`period_in_hbar_units` converts a period in seconds.

Range of validity (warned about outside it, :class:`NonAdiabaticWarning`): the crossings' windows (six widths
``max(g/a, sqrt(hbar phidot / a))`` on either side) must not overlap each other or the end phase, the gap must
follow the hyperbola over the start's window to 1.5 %, and the resummed first-order start needs
``2 |alpha| < 0.5`` away from crossings. On the default Lohse lattice a start at phi = 0 is inside this range for T >= 25 ms (error against the
exact k-resolved dynamics, :func:`exact_band_loss`, 8 % at 25 ms and below 3 % from 50 ms to 1 s; 12 % at 20 ms,
where it warns); a start at phi = pi/2 is within 0.1 % down to 15 ms (``benchmarks/nonadiabatic_loss.py``,
docs/theory.md).

References: Landau, Phys. Z. Sowjetunion 2, 46 (1932); Zener, Proc. R. Soc. A 137, 696 (1932); Berry,
Proc. R. Soc. A 414, 31 (1987) (superadiabatic bases); Shevchenko, Ashhab & Nori, Phys. Rep. 492, 1 (2010);
Vitanov & Garraway, PRA 53, 4288 (1996) (finite and half crossings); Lohse et al., Nat. Phys. 12, 350 (2016).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy.special import loggamma

from atompump.theory.populations import gap_crossings
from atompump.theory.rice_mele import RiceMeleCouplings, bloch_hamiltonian

__all__ = [
    "LossEstimate",
    "NonAdiabaticWarning",
    "PhaseRamp",
    "crossing_matrix",
    "exact_band_loss",
    "landau_zener_probability",
    "nonadiabatic_loss",
    "period_for_band_loss",
    "period_in_hbar_units",
    "pump_displacement",
    "estimated_displacement",
    "ramp_form_factor",
    "stokes_phase",
]


#: largest dynamical phase (rad) and d-vector rotation (rad) per step of the start's crossing window
WINDOW_PHASE_STEP, WINDOW_TURN_STEP = 1.0, 0.01

#: largest relative departure of the gap from its hyperbola over the start's crossing window (validity)
HYPERBOLA_TOLERANCE = 0.015


class NonAdiabaticWarning(RuntimeWarning):
    """The non-adiabatic loss estimate is used outside its range of validity."""


# ------------------------------------------------------------------------------------------------ closed forms
def landau_zener_probability(*, min_gap, gap_slope, period):
    """Landau–Zener probability of one diabatic passage through an avoided crossing of the pump cycle.

    ``P = exp(-pi g^2 / (2 a phidot))`` with ``phidot = 2 pi / T`` (hbar = 1): the gap ``g`` and the slope ``a`` of
    the diabatic energy difference in one energy unit E, the period in ``hbar / E`` (use
    :func:`period_in_hbar_units` for a period in seconds). Vectorised over its arguments.

    Parameters
    ----------
    min_gap : float or ndarray
        Minimum gap g (E), >= 0.
    gap_slope : float or ndarray
        ``|d gap / d phi|`` away from the crossing, a (E / rad), > 0.
    period : float or ndarray
        Cycle period T (hbar / E), > 0.

    Returns
    -------
    float or ndarray
    """
    g, a, t = (np.asarray(v, dtype=float) for v in (min_gap, gap_slope, period))
    if np.any(g < 0) or np.any(a <= 0) or np.any(t <= 0):
        raise ValueError("min_gap >= 0, gap_slope > 0 and period > 0 are required")
    p = np.exp(-(g**2) * t / (4.0 * a))  # = exp(-pi g^2 / (2 a (2 pi / T)))
    return float(p) if p.ndim == 0 else p


def stokes_phase(delta):
    """Stokes phase ``pi/4 + delta (ln delta - 1) + arg Gamma(1 - i delta)`` of a crossing with
    ``P = exp(-2 pi delta)``."""
    delta = np.maximum(np.asarray(delta, dtype=float), 1e-300)
    return np.pi / 4 + delta * (np.log(delta) - 1.0) + loggamma(1.0 - 1j * delta).imag


def ramp_form_factor(w):
    """First-order amplitude factor ``F(w) = pi^2 (1 + e^(i w)) / (2 (pi^2 - w^2))`` of the sin^2 ramp-on.

    ``w = DeltaE tau / hbar``; F(0) = 1 (sudden start), ``|F|^2 ~ pi^4 cos^2(w/2) / w^4`` for ``w >> pi``.
    """
    w = np.asarray(w, dtype=float)
    near = np.abs(np.abs(w) - np.pi) < 1e-6
    safe = np.where(near, 0.0, w)
    f = np.pi**2 * (1.0 + np.exp(1j * safe)) / (2.0 * (np.pi**2 - safe**2))
    # at w = +-pi the limit is +-i pi / 4 (l'Hopital)
    return np.where(near, 0.25j * np.pi * np.sign(w), f)


def period_in_hbar_units(period_s: float, *, energy_unit_hz: float) -> float:
    """A period in seconds expressed in ``hbar / E`` for an energy unit E given as a frequency E / h (Hz)."""
    if period_s <= 0 or energy_unit_hz <= 0:
        raise ValueError("period_s and energy_unit_hz must be positive")
    return float(period_s) * 2.0 * np.pi * float(energy_unit_hz)


# ------------------------------------------------------------------------------------------------ the ramp
@dataclass(frozen=True)
class PhaseRamp:
    """``phi(t)``: a constant phase velocity ``2 pi / period`` reached suddenly or through a sin^2 ramp.

    Attributes
    ----------
    period : float
        Cycle period T at full speed (hbar / E).
    start_phase : float
        Phase at t = 0, where the atoms are prepared in the lowest band (rad).
    ramp_time : float
        Duration tau of the sin^2 ramp of the phase velocity (hbar / E); 0: sudden start.
    """

    period: float
    start_phase: float = 0.0
    ramp_time: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.period) or self.period <= 0:
            raise ValueError(f"the cycle period must be positive, got {self.period}")
        if not np.isfinite(self.ramp_time) or self.ramp_time < 0:
            raise ValueError(f"the ramp time must be >= 0, got {self.ramp_time}")

    @property
    def omega(self) -> float:
        """Full phase velocity 2 pi / T (rad per hbar/E)."""
        return 2.0 * np.pi / self.period

    def velocity(self, t):
        """``dphi/dt`` at times t."""
        t = np.asarray(t, dtype=float)
        if self.ramp_time == 0:
            return np.full(t.shape, self.omega)
        s = np.sin(0.5 * np.pi * np.clip(t / self.ramp_time, 0.0, 1.0)) ** 2
        return self.omega * s

    def phase(self, t):
        """``phi(t)``."""
        t = np.asarray(t, dtype=float)
        tau = self.ramp_time
        if tau == 0:
            return self.start_phase + self.omega * t
        inside = self.start_phase + self.omega * (0.5 * t - tau / (2 * np.pi) * np.sin(np.pi * t / tau))
        return np.where(t < tau, inside, self.start_phase + self.omega * (t - 0.5 * tau))

    def time_at(self, phase):
        """Inverse of :meth:`phase` (phase >= start_phase)."""
        phase = np.asarray(phase, dtype=float)
        tau = self.ramp_time
        after = (phase - self.start_phase) / self.omega + 0.5 * tau
        if tau == 0:
            return after
        grid = np.linspace(0.0, tau, 4097)
        inside = np.interp(phase, self.phase(grid), grid)
        return np.where(phase >= self.phase(tau), after, inside)


# ------------------------------------------------------------------------------------------------ geometry
@dataclass(frozen=True)
class _OnceOverK:
    """The couplings on a (k, phi) outer grid, evaluated once per phi rather than at every k."""

    model: RiceMeleCouplings

    def couplings(self, phi):
        values = self.model.couplings(phi[0])
        return tuple(np.broadcast_to(v, phi.shape) for v in values)


def _d_vectors(model: RiceMeleCouplings, k: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """d(k, phi) with ``H = d . sigma`` (shape k.shape x phi.shape x 3) from the Rice–Mele Bloch Hamiltonian."""
    h = bloch_hamiltonian(k[:, None], phi[None, :], _OnceOverK(model))
    off = h[..., 0, 1]
    return np.stack([off.real, -off.imag, h[..., 0, 0].real], axis=-1)


def _d_at(model: RiceMeleCouplings, k, phi) -> np.ndarray:
    """d(k, phi) elementwise (broadcast k with phi), shape broadcast + (3,)."""
    h = bloch_hamiltonian(k, phi, model)
    off = h[..., 0, 1]
    return np.stack([off.real, -off.imag, h[..., 0, 0].real], axis=-1)


def _dressing_at(model: RiceMeleCouplings, k: np.ndarray, phi: float, phidot: float):
    """First-order dressing of the exact bands at phi moving at phidot, per k, in the gauge of _adiabatic_states.

    Returns ``alpha`` (admixture of u+ in the lower dressed state), ``beta = -conj(alpha)`` (of u- in the upper),
    theta, varphi and the gap; ``<u+|d_phi u-> = (theta' - i sin(theta) varphi') / 2``.
    """
    eps = 1e-5
    d = _d_vectors(model, k, np.array([phi - eps, phi, phi + eps]))
    norm = np.linalg.norm(d, axis=-1)
    theta = np.arccos(np.clip(d[..., 2] / norm, -1.0, 1.0))
    varphi = np.unwrap(np.arctan2(d[..., 1], d[..., 0]), axis=1)
    coupling = 0.5 * ((theta[:, 2] - theta[:, 0]) - 1j * np.sin(theta[:, 1]) * (varphi[:, 2] - varphi[:, 0])) / (
        2 * eps)
    alpha = 1j * phidot * coupling / (2 * norm[:, 1])
    return alpha, -np.conj(alpha), theta[:, 1], varphi[:, 1], 2 * norm[:, 1]


def _dressing(theta_dot, phi_dot_term, gap):
    """First-order dressing alpha = i <u+|d_t u-> / DeltaE of the lower state (two-level, gauge u(theta, varphi))."""
    return 1j * 0.5 * (theta_dot - 1j * phi_dot_term) / gap


def _adiabatic_states(theta: np.ndarray, varphi: np.ndarray | float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper eigenvectors of ``n . sigma`` in the gauge ``u- = (sin t/2, -cos t/2 e^(i varphi))``,
    ``u+ = (cos t/2, sin t/2 e^(i varphi))``; shapes theta.shape + (2,)."""
    ph = np.exp(1j * np.asarray(varphi))
    lower = np.stack([np.sin(theta / 2) + 0j, -np.cos(theta / 2) * ph], axis=-1)
    upper = np.stack([np.cos(theta / 2) + 0j, np.sin(theta / 2) * ph], axis=-1)
    return lower, upper


def _free_amplitudes(psi, theta, theta_dot, gap, varphi=0.0):
    """Amplitudes (c-, c+) of psi in the first-order dressed basis (u- + alpha u+, u+ + alpha u-)."""
    lower, upper = _adiabatic_states(theta, varphi)
    b_minus = np.einsum("...a,...a->...", lower.conj(), psi)
    b_plus = np.einsum("...a,...a->...", upper.conj(), psi)
    alpha = _dressing(theta_dot, 0.0, gap)
    det = 1.0 - alpha * alpha
    return (b_minus - alpha * b_plus) / det, (b_plus - alpha * b_minus) / det


# ------------------------------------------------------------------------------------------------ results
@dataclass(frozen=True)
class LossEstimate:
    """The band-averaged non-adiabatic loss of one cycle (see the module docstring).

    Attributes
    ----------
    loss : float
        Band-2 population at ``end_phase`` averaged over k: the start and every crossing of the cycle, combined
        coherently k by k.
    start : float
        The start channel alone (band-2 population after the start, before the first full crossing).
    start_first_order : float
        First-order adiabatic perturbation theory for a sudden start, ``phidot^2 <g_phiphi / DeltaE^2>_k``
        (resummed as in the module docstring; for a smooth ramp times ``|F|^2``).
    crossings : list of dict
        Per full crossing passed: ``phi`` (rad, band-averaged centre), ``probability`` (band-averaged
        Landau–Zener), ``probability_min_gap`` (the k with the smallest gap only), ``min_gap``, ``slope``.
    cycle_loss : float
        The crossings alone, coherently (no start channel): the loss of every later cycle from a clean band.
    incoherent : float
        The same as ``loss`` with probabilities instead of amplitudes (back-transfer ``p2 -> p2 (1-P) + (1-p2) P``).
    per_k : ndarray
        ``loss`` before the band average, on ``k``.
    k : ndarray
    end_phase : float
    valid : bool
        False when used outside the range of validity (a :class:`NonAdiabaticWarning` was issued).
    notes : list of str
    """

    loss: float
    start: float
    start_first_order: float
    crossings: list
    cycle_loss: float
    incoherent: float
    per_k: np.ndarray
    k: np.ndarray
    end_phase: float
    valid: bool
    notes: list = field(default_factory=list)

    def summary(self) -> dict:
        """JSON-ready numbers."""
        return {"loss": self.loss, "start": self.start, "start_first_order": self.start_first_order,
                "crossings": self.crossings, "cycle_loss": self.cycle_loss, "incoherent": self.incoherent,
                "end_phase": self.end_phase, "valid": self.valid, "notes": list(self.notes)}


def _default_end_phase(model: RiceMeleCouplings, start_phase: float, k: np.ndarray) -> float:
    phi = start_phase + 2 * np.pi + np.linspace(0.0, 2 * np.pi, 2049)
    gap = 2 * np.linalg.norm(_d_vectors(model, k, phi), axis=-1).mean(axis=0)
    j = 0  # the first local maximum (phi_s + 2 pi itself when the gap falls from there)
    while j + 1 < phi.size and gap[j + 1] >= gap[j]:
        j += 1
    return float(phi[j])


def _window_halfwidth(gap: float, slope: float, phidot: float) -> float:
    return 6.0 * max(gap / slope, math.sqrt(phidot / slope))


def _integrate_window(g, a_z, phi_c, ramp: PhaseRamp, t0, t1, psi0, *, varphi):
    """Evolve psi0 (n, 2) on the linearised crossings ``H = (a_z x sigma_z + g (cos vp sigma_x + sin vp sigma_y))/2``
    from t0 to t1 (arrays over k), exact 2x2 exponentials at midpoint phases."""
    # the frozen-phase propagator is exact; the error comes from H changing within a step: bound the rotation of
    # the d-vector per step (theta_dot <= a phidot / g) and the dynamical phase per step
    x_max = np.maximum(np.abs(ramp.phase(t0) - phi_c), np.abs(ramp.phase(t1) - phi_c))
    e_max = np.sqrt(g**2 + (a_z * x_max) ** 2)
    span = t1 - t0
    turn = np.abs(a_z) * ramp.omega / np.maximum(g, 1e-300)
    n = int(np.ceil(np.max(np.maximum.reduce([e_max * span / WINDOW_PHASE_STEP, turn * span / WINDOW_TURN_STEP,
                                             np.full(span.shape, 600.0)]))))
    dt = span / n
    psi = psi0.astype(complex)
    cvp, svp = np.cos(varphi), np.sin(varphi)
    for i in range(n):
        x = ramp.phase(t0 + (i + 0.5) * dt) - phi_c
        dz = 0.5 * a_z * x
        dperp = 0.5 * g
        e = np.sqrt(dz**2 + dperp**2)
        c, s = np.cos(e * dt), np.sin(e * dt) / np.maximum(e, 1e-300)
        nx, ny = dperp * cvp, dperp * svp
        a, b = psi[:, 0], psi[:, 1]
        psi = np.stack([c * a - 1j * s * (dz * a + (nx - 1j * ny) * b),
                        c * b - 1j * s * ((nx + 1j * ny) * a - dz * b)], axis=-1)
    return psi


def _window_state(g, a_z, phi_c, ramp, t, varphi):
    """theta, theta_dot, gap of the linearised crossing at time t (arrays over k)."""
    x = ramp.phase(t) - phi_c
    theta = np.arctan2(g, a_z * x)
    v = ramp.velocity(t)
    theta_dot = -g * a_z * v / (g**2 + (a_z * x) ** 2)
    return theta, theta_dot, np.sqrt(g**2 + (a_z * x) ** 2)


def crossing_matrix(probability, delta, slope_sign):
    """Adiabatic-impulse matrix of one crossing acting on (c-, c+), amplitudes referred to the crossing's centre.

    ``[[r e^(i phi_S), -s sigma], [s sigma, r e^(-i phi_S)]]`` with ``r = sqrt(1 - P)``, ``s = sqrt(P)``, phi_S the
    Stokes phase of ``delta`` and sigma the sign of ``d d_z / d phi`` at the crossing (gauge of
    :func:`_adiabatic_states`). Shape ``probability.shape + (2, 2)``. Checked against the numerically integrated
    linear crossing in the tests.
    """
    p = np.asarray(probability, dtype=float)
    r, s = np.sqrt(1.0 - p), np.sqrt(p)
    e = np.exp(1j * stokes_phase(delta))
    sig = np.sign(slope_sign)
    return np.stack([np.stack([r * e, -s * sig], axis=-1), np.stack([s * sig, r * np.conj(e)], axis=-1)], axis=-2)


def nonadiabatic_loss(model: RiceMeleCouplings, *, period: float, start_phase: float = 0.0,
                      ramp_time: float = 0.0, end_phase: float | None = None, n_k: int = 32,
                      n_phi: int = 2048, n_t: int = 4000) -> LossEstimate:
    """Band-averaged non-adiabatic loss of the first cycle of a two-band pump (see the module docstring).

    Parameters
    ----------
    model : RiceMeleCouplings
        Couplings ``J1, J2, Delta`` of phi in energy unit E, e.g.
        :func:`~atompump.theory.rice_mele.rice_mele_from_superlattice` (Er,s).
    period : float, keyword-only
        Cycle period T at full speed (hbar / E; :func:`period_in_hbar_units`).
    start_phase : float, keyword-only
        Phase where the atoms are prepared in the lowest band (rad).
    ramp_time : float, keyword-only
        Duration tau of the sin^2 ramp-on of the phase velocity (hbar / E); 0: sudden start.
    end_phase : float, keyword-only
        Where the loss is read; default the first gap maximum at or after ``start_phase + 2 pi``.
    n_k : int, keyword-only
        k points of the filled band (midpoints ``2 pi (j + 1/2) / n_k``; the exact k = pi is avoided).
    n_phi, n_t : int, keyword-only
        Sampling of the gap over phi (to find the crossings) and time samples per cycle along the path (for the
        adiabatic phases; 4000 converge the loss to 1e-4 relative on the Lohse lattice).

    Returns
    -------
    LossEstimate

    Warns
    -----
    NonAdiabaticWarning
        Outside the range of validity (``LossEstimate.valid`` is then False and ``notes`` says why).
    """
    ramp = PhaseRamp(period=period, start_phase=start_phase, ramp_time=ramp_time)
    k = 2 * np.pi * (np.arange(n_k) + 0.5) / n_k
    if end_phase is None:
        end_phase = _default_end_phase(model, start_phase, k)
    if end_phase <= start_phase:
        raise ValueError("end_phase must be after start_phase")
    notes: list[str] = []
    t_end = float(ramp.time_at(end_phase))

    # adiabatic phases along the path: 2 zeta = int DeltaE dt - int cos(theta) dvarphi, on a time grid
    t_grid = np.linspace(0.0, t_end, n_t * max(1, math.ceil((end_phase - start_phase) / (2 * np.pi))) + 1)
    if ramp_time > 0:
        t_grid = np.unique(np.concatenate([t_grid, np.linspace(0.0, min(ramp_time, t_end), 2001)]))
    d = _d_vectors(model, k, ramp.phase(t_grid))  # (n_k, n_t, 3)
    dnorm = np.linalg.norm(d, axis=-1)
    cos_theta = d[..., 2] / dnorm
    varphi = np.unwrap(np.arctan2(d[..., 1], d[..., 0]), axis=1)
    integrand_t = 2 * dnorm
    half_phase = 0.5 * np.concatenate(
        [np.zeros((n_k, 1)),
         np.cumsum(0.5 * (integrand_t[:, 1:] + integrand_t[:, :-1]) * np.diff(t_grid)
                   - 0.5 * (cos_theta[:, 1:] + cos_theta[:, :-1]) * np.diff(varphi, axis=1), axis=1)], axis=1)

    def zeta(t_a, t_b):  # half the relative phase of (c-, c+) from t_a to t_b, per k
        t_a, t_b = np.broadcast_to(t_a, (n_k,)), np.broadcast_to(t_b, (n_k,))
        return np.array([np.interp(t_b[i], t_grid, half_phase[i]) - np.interp(t_a[i], t_grid, half_phase[i])
                         for i in range(n_k)])

    # crossings per k over one period of phi, unwrapped along k, repeated over the path
    phi_c = 2 * np.pi * np.arange(n_phi) / n_phi
    gap_c = 2 * np.linalg.norm(_d_vectors(model, k, phi_c), axis=-1)
    per_k = [gap_crossings(phi_c, gap_c[i]) for i in range(n_k)]
    counts = {len(c) for c in per_k}
    if len(counts) != 1:
        raise ArithmeticError("the number of gap minima over the cycle differs between k; the crossings cannot be "
                              "followed through the band")
    n_cross = counts.pop()
    events = []
    for m in range(n_cross):
        centre = np.unwrap(np.array([c[m].phi0 for c in per_k]))
        gaps = np.array([c[m].gap for c in per_k])
        slopes = np.array([c[m].slope for c in per_k])
        base = np.floor((start_phase - centre.mean()) / (2 * np.pi))
        for shift in range(-1, int(np.ceil((end_phase - start_phase) / (2 * np.pi))) + 2):
            events.append((centre + 2 * np.pi * (base + shift), gaps, slopes))
    events.sort(key=lambda e: float(e[0].mean()))
    kept = []  # the crossings on the way; a broad gap minimum passed adiabatically is no crossing
    for centre, g, a in events:
        half = 6.0 * np.maximum(g / a, np.sqrt(ramp.omega / a))
        if centre.mean() > end_phase or np.all(centre + half < start_phase):
            continue
        if half.max() > np.pi / (2 * n_cross):
            if np.exp(-np.pi * g**2 / (2 * a * ramp.omega)).max() < 1e-6:
                continue
            notes.append(f"the gap minimum at phi = {centre.mean():.3f} is too broad for an isolated crossing at this "
                         f"period (window +-{half.max():.2f} rad): outside the adiabatic-impulse model")
        kept.append((centre, g, a))
    events = kept

    # first-order sudden start (resummed), from the exact d-vector at the start; always reported
    eps = 1e-5
    d0 = _d_vectors(model, k, np.array([start_phase - eps, start_phase, start_phase + eps]))
    unit = d0 / np.linalg.norm(d0, axis=-1, keepdims=True)
    metric = 0.25 * (((unit[:, 2] - unit[:, 0]) / (2 * eps)) ** 2).sum(axis=-1)  # g_phiphi, lower band
    gap0 = 2 * np.linalg.norm(d0[:, 1], axis=-1)
    two_alpha_sq = 4 * ramp.omega**2 * metric / gap0**2
    form = ramp_form_factor(gap0 * ramp_time) if ramp_time > 0 else np.ones(n_k)
    first_order_k = 0.5 * (1.0 - 1.0 / np.sqrt(1.0 + two_alpha_sq * np.abs(form) ** 2))

    c_minus = np.sqrt(1.0 - first_order_k) + 0j
    alpha_start = _dressing_at(model, k, start_phase, ramp.omega)[0]
    c_plus = np.sqrt(first_order_k) * np.exp(1j * np.angle(-alpha_start * form))
    start_k = first_order_k
    p2_incoherent = first_order_k.copy()
    t_ref = np.zeros(n_k)
    crossings_out = []
    start_in_window = False
    for centre, g, a in events:
        if centre.mean() > end_phase:
            break
        half = 6.0 * np.maximum(g / a, np.sqrt(ramp.omega / a))
        lo, hi = centre - half, centre + half
        if np.all(hi < start_phase):
            continue
        sign = np.sign(_d_at(model, k, centre + 1e-4)[:, 2] - _d_at(model, k, centre - 1e-4)[:, 2])
        sign[sign == 0] = 1.0
        if hi.max() > end_phase:
            notes.append(f"the crossing at phi = {centre.mean():.3f} reaches the end phase {end_phase:.3f}")
        inside = (lo <= start_phase) & (start_phase <= hi)
        if np.any(inside) and not np.all(inside):
            notes.append("the start lies at the edge of a crossing's window for some k only")
        if crossings_out and lo.min() < crossings_out[-1]["window_end"]:
            notes.append(f"the crossing at phi = {centre.mean():.3f} overlaps the previous one (period too short)")
        if np.all(inside):
            # the start inside a crossing: the truncated crossing on its linearised form, from t = 0
            start_in_window = True
            a_z = sign * a
            d_c = _d_at(model, k, centre)
            vp = np.arctan2(d_c[:, 1], d_c[:, 0])
            edge = 2 * np.linalg.norm(_d_at(model, k, hi), axis=-1)
            if np.any(np.abs(edge / np.sqrt(g**2 + (a * half) ** 2) - 1) > HYPERBOLA_TOLERANCE):
                notes.append(f"the gap departs from a hyperbola by more than {100 * HYPERBOLA_TOLERANCE:g} % within "
                             f"the start's crossing window (phi = {start_phase:.3f} to {hi.max():.3f}): period too "
                             "short")
            t_out = ramp.time_at(hi)
            theta, _, _ = _window_state(g, a_z, centre, ramp, np.zeros(n_k), vp)
            lower, _ = _adiabatic_states(theta, vp)
            psi = _integrate_window(g, a_z, centre, ramp, np.zeros(n_k), t_out, lower, varphi=vp)
            theta, theta_dot, gap = _window_state(g, a_z, centre, ramp, t_out, vp)
            c_minus, c_plus = _free_amplitudes(psi, theta, theta_dot, gap, vp)
            norm = np.sqrt(np.abs(c_minus) ** 2 + np.abs(c_plus) ** 2)
            c_minus, c_plus = c_minus / norm, c_plus / norm
            t_ref = t_out
            start_k = np.abs(c_plus) ** 2
            p2_incoherent = start_k.copy()
            crossings_out.append({"phi": float(centre.mean()), "start": True, "window_end": float(hi.max())})
            continue
        # a full crossing: carry the amplitudes to its centre, then the adiabatic-impulse matrix
        t_c = ramp.time_at(centre)
        z = zeta(t_ref, t_c)
        c_minus, c_plus = c_minus * np.exp(1j * z), c_plus * np.exp(-1j * z)
        v = ramp.velocity(t_c)
        p_lz = np.exp(-np.pi * g**2 / (2 * a * v))
        m = crossing_matrix(p_lz, g**2 / (4 * a * v), sign)
        c_minus, c_plus = (m[:, 0, 0] * c_minus + m[:, 0, 1] * c_plus, m[:, 1, 0] * c_minus + m[:, 1, 1] * c_plus)
        t_ref = t_c
        p2_incoherent = p2_incoherent * (1 - p_lz) + (1 - p2_incoherent) * p_lz
        j = int(np.argmin(g))
        crossings_out.append({"phi": float(centre.mean()), "probability": float(p_lz.mean()),
                              "probability_min_gap": float(p_lz[j]), "min_gap": float(g[j]), "slope": float(a[j]),
                              "window_end": float(hi.max())})
    loss_k = np.abs(c_plus) ** 2
    # the crossings alone (no start channel), coherently: every later cycle's loss from a clean band
    clean_minus, clean_plus = np.ones(n_k, complex), np.zeros(n_k, complex)
    t_prev = None
    for centre, g, a in events:
        if not (start_phase + 1e-9 < centre.mean() < end_phase) or any(
                c.get("start") and abs(c["phi"] - centre.mean()) < 1e-9 for c in crossings_out):
            continue
        t_c = ramp.time_at(centre)
        if t_prev is not None:
            z = zeta(t_prev, t_c)
            clean_minus, clean_plus = clean_minus * np.exp(1j * z), clean_plus * np.exp(-1j * z)
        v = ramp.velocity(t_c)
        sign = np.sign(_d_at(model, k, centre + 1e-4)[:, 2] - _d_at(model, k, centre - 1e-4)[:, 2])
        m = crossing_matrix(np.exp(-np.pi * g**2 / (2 * a * v)), g**2 / (4 * a * v), np.where(sign == 0, 1, sign))
        clean_minus, clean_plus = (m[:, 0, 0] * clean_minus + m[:, 0, 1] * clean_plus,
                                   m[:, 1, 0] * clean_minus + m[:, 1, 1] * clean_plus)
        t_prev = t_c
    if not start_in_window and float(np.sqrt(two_alpha_sq.max())) > 0.5:
        notes.append("the phase velocity at the start is too high for first-order adiabatic perturbation theory "
                     f"(2 |alpha| = {float(np.sqrt(two_alpha_sq.max())):.2f} > 0.5)")
    notes = list(dict.fromkeys(notes))
    for note in notes:
        warnings.warn(note, NonAdiabaticWarning, stacklevel=2)
    for c in crossings_out:
        c.pop("window_end", None)
    return LossEstimate(loss=float(loss_k.mean()), start=float(np.mean(start_k)),
                        start_first_order=float(first_order_k.mean()),
                        crossings=[c for c in crossings_out if not c.get("start")],
                        cycle_loss=float(np.mean(np.abs(clean_plus) ** 2)), incoherent=float(p2_incoherent.mean()),
                        per_k=loss_k, k=k, end_phase=float(end_phase), valid=not notes, notes=notes)


def period_for_band_loss(model: RiceMeleCouplings, target: float, *, start_phase: float = 0.0,
                         ramp_time: float = 0.0, n_k: int = 32, bounds: tuple[float, float] = (1e3, 1e5)) -> float:
    """Cycle period (hbar / E) at which the first cycle's loss, averaged over its oscillations with T, is ``target``.

    Solves ``nonadiabatic_loss(...).incoherent = target`` (start channel and band-averaged crossings with
    back-transfer; the coherent loss oscillates with T around it, see the module docstring) on ``bounds``. Returns
    ``bounds[0]`` when the loss is below the target already there and ``inf`` when it is above it at ``bounds[1]``.
    """
    from scipy.optimize import brentq

    if not 0 < target < 0.5:
        raise ValueError(f"the target loss must be between 0 and 0.5, got {target}")

    def excess(log_t: float) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonAdiabaticWarning)
            est = nonadiabatic_loss(model, period=float(np.exp(log_t)), start_phase=start_phase,
                                    ramp_time=ramp_time, n_k=n_k, n_t=500)
        return est.incoherent - target

    low, high = np.log(bounds[0]), np.log(bounds[1])
    if excess(low) <= 0:
        return float(bounds[0])
    if excess(high) > 0:
        return float("inf")
    return float(np.exp(brentq(excess, low, high, xtol=1e-4)))


# ------------------------------------------------------------------------------------------------ the reference
def exact_band_loss(model: RiceMeleCouplings, *, period: float, start_phase: float = 0.0, ramp_time: float = 0.0,
                    end_phase: float | None = None, n_k: int = 32, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """The reference: exact k-resolved Bloch evolution of the filled lowest band of the Rice–Mele chain.

    At each k the two-level Schrödinger equation ``i d psi/dt = H(k, phi(t)) psi`` (H from
    :func:`~atompump.theory.rice_mele.bloch_hamiltonian`, phi(t) from :class:`PhaseRamp`) is integrated from the
    lower eigenstate at ``start_phase`` with exact 2x2 propagators at each step's midpoint phase (error second
    order in dt); this is the trap-free limit of :class:`atompump.simulate.tight_binding.TightBindingModel` on a
    ring, k by k.

    Returns
    -------
    k : ndarray, shape (n_k,)
    loss : ndarray, shape (n_k,)
        Free band-2 population at ``end_phase`` (default as :func:`nonadiabatic_loss`): in the first-order dressed
        basis of the moving lattice, so that the bound admixture carrying the adiabatic current is not counted
        (at a gap maximum of the Lohse lattice it is ~1e-8 either way).
    """
    ramp = PhaseRamp(period=period, start_phase=start_phase, ramp_time=ramp_time)
    k = 2 * np.pi * (np.arange(n_k) + 0.5) / n_k
    if end_phase is None:
        end_phase = _default_end_phase(model, start_phase, k)
    t_end = float(ramp.time_at(end_phase))
    n = int(np.ceil(t_end / dt))
    step = t_end / n
    _, v = np.linalg.eigh(bloch_hamiltonian(k, np.full(k.shape, start_phase), model))
    psi = v[..., :, 0].astype(complex)
    phases = ramp.phase((np.arange(n) + 0.5) * step)
    chunk = 4096
    for lo in range(0, n, chunk):
        d = _d_vectors(model, k, phases[lo:lo + chunk])  # (n_k, m, 3)
        e = np.linalg.norm(d, axis=-1)
        c, s = np.cos(e * step), np.sin(e * step) / e
        for j in range(d.shape[1]):
            dx, dy, dz = d[:, j, 0], d[:, j, 1], d[:, j, 2]
            a, b = psi[:, 0], psi[:, 1]
            psi = np.stack([c[:, j] * a - 1j * s[:, j] * (dz * a + (dx - 1j * dy) * b),
                            c[:, j] * b - 1j * s[:, j] * ((dx + 1j * dy) * a - dz * b)], axis=-1)
    # free band-2 amplitude: psi in the first-order dressed basis of the moving lattice at the end
    alpha, beta, theta, varphi, _ = _dressing_at(model, k, end_phase, float(ramp.velocity(t_end)))
    lower, upper = _adiabatic_states(theta, varphi)
    b_minus = np.einsum("ka,ka->k", lower.conj(), psi)
    b_plus = np.einsum("ka,ka->k", upper.conj(), psi)
    return k, np.abs((b_plus - alpha * b_minus) / (1.0 - alpha * beta)) ** 2


# ------------------------------------------------------------------------------------------------ displacement
def pump_displacement(cycle, *, crossing_loss: float, start_loss: float = 0.0, chern_lower: int = 1,
                      chern_upper: int = -1, first_crossing: float = 0.0, step_width: float = 0.0):
    """Displacement (units of dl) after ``cycle`` cycles of a two-band pump losing atoms at its crossings.

    The crossings sit at cycles ``first_crossing + l / 2`` (l = 0, 1, ...; the symmetric double wells phi = l pi of
    the Lohse lattice when the pump starts at phi = 0, ``first_crossing = 0``; use 1/4 for a start between two
    crossings). At a crossing an atom of band b that follows it adiabatically (probability 1 - P) moves by
    ``C_b / 2``; one that passes diabatically changes band and, over the whole crossing, does not move: in the
    first half of the crossing every atom moves by ``C_b / 4`` with its band, in the second half the followers by
    another ``C_b / 4`` and the others back by ``C_b / 4``. Populations change by
    ``p1 -> p1 (1 - P) + p2 P`` (back-transfer). A start at a crossing's centre (``first_crossing = 0``) makes the
    preparation half-step: only the second half of crossing 0, with the start's own loss ``start_loss`` in place of
    P. With ``first_crossing = 1/4`` and ``step_width = 0`` the displacement after n cycles is
    ``n * landau_zener_displacement(P, n)`` exactly (2n full crossings).

    Parameters
    ----------
    cycle : array_like
        Pump cycles (>= 0).
    crossing_loss : float
        P per crossing (per half cycle), 0..1 (``1 - beta`` of Lohse's per-half-cycle efficiency beta).
    start_loss : float
        Band-2 population made by the start at a crossing centre (``first_crossing = 0``), 0..1.
    chern_lower, chern_upper : int
        Chern numbers of the two bands.
    first_crossing : float
        Cycle of the first crossing centre.
    step_width : float
        Width (cycles) of each half-step, a tanh; 0: sharp steps (half a step exactly at the centre).

    Returns
    -------
    ndarray
        Same shape as ``cycle``.
    """
    cycle = np.asarray(cycle, dtype=float)
    n_steps = int(np.ceil(2.0 * (float(np.max(cycle, initial=0.0)) - first_crossing))) + 2
    p = float(crossing_loss)
    p1, p2 = 1.0, 0.0
    first_half, second_half, centres = [], [], []
    for l in range(max(n_steps, 1)):
        centre = first_crossing + l / 2.0
        pl = float(start_loss) if (l == 0 and first_crossing == 0.0) else p
        moving = chern_lower * p1 + chern_upper * p2
        first_half.append(0.0 if (l == 0 and first_crossing == 0.0) else 0.25 * moving)
        second_half.append(0.25 * (1.0 - 2.0 * pl) * moving)
        p1, p2 = p1 * (1 - pl) + p2 * pl, p2 * (1 - pl) + p1 * pl
        centres.append(centre)
    centres = np.asarray(centres)
    if step_width > 0:
        s = 0.5 * (1.0 + np.tanh((cycle[..., None] - centres) / step_width))
        s0 = 0.5 * (1.0 + np.tanh(-centres / step_width))
        rise_first = np.clip(2.0 * s, 0.0, 1.0) - np.clip(2.0 * s0, 0.0, 1.0)
        rise_second = np.clip(2.0 * s - 1.0, 0.0, 1.0) - np.clip(2.0 * s0 - 1.0, 0.0, 1.0)
    else:
        rel = cycle[..., None] - centres
        rise_first = (rel >= 0).astype(float)
        rise_second = (rel > 0).astype(float)
        rise_first = np.where(centres <= 0, 0.0, rise_first)
        rise_second = np.where(centres < 0, 0.0, rise_second)
    return (rise_first * np.asarray(first_half)).sum(axis=-1) + (rise_second * np.asarray(second_half)).sum(axis=-1)


def estimated_displacement(estimate: LossEstimate, cycle, *, start_phase: float, chern_lower: int = 1,
                           chern_upper: int = -1):
    """Displacement (dl) after ``cycle`` cycles implied by a loss estimate: :func:`pump_displacement` with the
    band-averaged probability of the estimate's crossings (their mean) and its start loss, the pump starting at a
    crossing's centre when ``start_phase`` is one of the crossings' phases (else between two crossings)."""
    crossings = estimate.crossings
    at_crossing = any(abs((start_phase - c["phi"] + np.pi) % (2 * np.pi) - np.pi) < 1e-3 for c in crossings)
    crossing_loss = float(np.mean([c["probability"] for c in crossings])) if crossings else 0.0
    return pump_displacement(cycle, crossing_loss=crossing_loss, start_loss=estimate.start, chern_lower=chern_lower,
                             chern_upper=chern_upper, first_crossing=0.0 if at_crossing else 0.25)
