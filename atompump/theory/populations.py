"""Band populations of a prepared cloud, the expected displacement per cycle, and a non-adiabatic estimate.

Populations: the single-particle states (band n, quasi-momentum k) of a ring of ``n_cells`` long-lattice cells
(the k mesh) are occupied with Boltzmann, Bose–Einstein or Fermi–Dirac statistics at temperature T; for the
quantum statistics the chemical potential is fixed by ``filling`` (particles per cell). ``p_n`` is the fraction of
particles in band n, and the expected displacement per cycle is ``sum_n p_n C_n`` (in units of dl), its spread over
the band mixture ``sum_n p_n C_n^2 - (sum_n p_n C_n)^2``.

Non-adiabatic loss (Landau–Zener at the minimum gap): near each minimum of the direct gap over the cycle the two
bands behave as ``E+ - E- = sqrt(g^2 + a^2 (phi - phi0)^2)`` (g the minimum gap, a the slope of the diabatic
energy difference per radian). Crossing it at ``dphi/dt = 2 pi / T`` transfers a fraction
``P = exp(-pi g^2 / (2 hbar a dphi/dt))`` to the upper band (one formula:
:func:`atompump.theory.nonadiabatic.landau_zener_probability`); with energies as frequencies (E / h) this is
``exp(-pi^2 g^2 / (a dphi/dt))``. :func:`landau_zener_loss` combines the crossings of one cycle with back-transfer,
``p2 -> p2 (1 - P) + (1 - p2) P``. It uses the minimum gap only (k = pi on the Lohse lattice) and no ramp start:
the band-averaged loss with the start channel and the crossings' interference is
:func:`atompump.theory.nonadiabatic.nonadiabatic_loss`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from atompump.constants import H_PLANCK, K_B
from atompump.errors import ParameterError

__all__ = ["PopulationError", "STATISTICS", "kT_in_energy_unit", "band_populations", "displacement_moments",
           "fermi_dirac_fill",
           "GapCrossing",
           "gap_crossings", "combine_crossings", "landau_zener_probability"]

log = logging.getLogger(__name__)

STATISTICS = ("boltzmann", "bose", "fermi")


class PopulationError(ParameterError):
    """Band populations cannot be formed from the given temperature, statistics, filling or list.

    A :class:`~atompump.errors.ParameterError`: a message may name the caller's parameters (``{n_bands}``)."""

    def __init__(self, message: str, *, parameters: tuple[str, ...] = ()) -> None:
        super().__init__(message, parameters=parameters)

_KB_OVER_H_HZ_PER_NK = K_B / H_PLANCK * 1e-9  # 20.8366... Hz per nK


def kT_in_energy_unit(temperature_nK: float, *, energy_unit_hz: float) -> float:
    """k_B T expressed in an energy unit given as a frequency (e.g. Er,s / h in Hz)."""
    if not np.isfinite(temperature_nK) or temperature_nK < 0:
        raise ValueError(f"temperature must be >= 0 nK, got {temperature_nK}")
    if energy_unit_hz <= 0:
        raise ValueError(f"energy_unit_hz must be positive, got {energy_unit_hz}")
    return temperature_nK * _KB_OVER_H_HZ_PER_NK / energy_unit_hz


def _occupation(x: np.ndarray, statistics: str) -> np.ndarray:
    if statistics == "fermi":
        return 0.5 * (1.0 - np.tanh(0.5 * x))  # 1 / (exp(x) + 1), overflow free
    with np.errstate(over="ignore"):
        return 1.0 / np.expm1(x)


def fermi_dirac_fill(energies: np.ndarray, *, n_particles: float, kT: float) -> tuple[np.ndarray, float]:
    """Fermi–Dirac occupations of single-particle levels holding ``n_particles`` at temperature ``kT``.

    ``n_j = 1 / (exp((E_j - mu) / kT) + 1)`` with the chemical potential ``mu`` fixed by ``sum_j n_j =
    n_particles`` (found by bracketing root search); at ``kT = 0`` the lowest ``floor(n_particles)`` levels are
    full and the next holds the fraction left. The one filling routine of the library: the band populations of
    the prediction (:func:`band_populations`) and the simulator's tubes
    (:func:`atompump.simulate.dynamics.ensemble_weights`) use it.

    Parameters
    ----------
    energies : ndarray
        Level energies, any shape and energy unit.
    n_particles : float, keyword-only
        Particles to place, ``0 < n_particles <= energies.size``.
    kT : float, keyword-only
        Temperature in the unit of ``energies`` (>= 0).

    Returns
    -------
    occupations : ndarray, shape of ``energies``
        Each in [0, 1], summing to ``n_particles``.
    mu : float
        Chemical potential (at kT = 0: the energy of the highest occupied level).
    """
    energies = np.asarray(energies, dtype=float)
    if not 0 < n_particles <= energies.size:
        raise PopulationError(f"cannot place {n_particles:g} fermions in {energies.size} levels")
    if kT < 0 or not np.isfinite(kT):
        raise PopulationError(f"kT must be >= 0, got {kT}")
    flat = energies.reshape(-1)
    if kT == 0:
        order = np.argsort(flat, kind="stable")
        occ = np.zeros(flat.size)
        occ[order] = np.clip(n_particles - np.arange(flat.size), 0.0, 1.0)
        last = order[min(int(np.ceil(n_particles)) - 1, flat.size - 1)]
        return occ.reshape(energies.shape), float(flat[last])

    def excess(m):
        return _occupation((flat - m) / kT, "fermi").sum() - n_particles

    lo, hi = flat.min() - 50 * kT - 1.0, flat.max() + 50 * kT + 1.0
    mu = float(brentq(excess, lo, hi, xtol=1e-14 * max(1.0, abs(hi)), rtol=1e-13))
    return _occupation((energies - mu) / kT, "fermi"), mu


def band_populations(energies: np.ndarray, *, kT: float, statistics: str = "boltzmann",
                     filling: float = 1.0, top_band_tolerance: float = 1e-3) -> tuple[np.ndarray, float | None]:
    """Fraction of particles in each band at temperature kT.

    Parameters
    ----------
    energies : ndarray, shape (n_bands, n_k)
        Band energies at the preparation phase on a k mesh of ``n_k`` points (= cells of the ring).
    kT : float, keyword-only
        Temperature in the energy unit of ``energies`` (>= 0; 0 gives the ground state).
    statistics : {"boltzmann", "bose", "fermi"}, keyword-only
    filling : float, keyword-only
        Particles per cell (bose, fermi); fermions need ``filling < n_bands``.
    top_band_tolerance : float, keyword-only
        Raise if the highest computed band holds more than this fraction (more bands are needed).

    Returns
    -------
    populations : ndarray, shape (n_bands,)
        Sum 1.
    mu : float or None
        Chemical potential (bose, fermi), energy unit of ``energies``.
    """
    energies = np.asarray(energies, dtype=float)
    if energies.ndim != 2:
        raise PopulationError("energies must have shape (n_bands, n_k)")
    if statistics not in STATISTICS:
        raise PopulationError(f"statistics must be one of {STATISTICS}, got {statistics!r}")
    if kT < 0 or not np.isfinite(kT):
        raise PopulationError(f"kT must be >= 0, got {kT}")
    n_bands, n_k = energies.shape
    if statistics != "boltzmann" and not filling > 0:
        raise PopulationError(f"filling must be positive, got {filling}")
    if statistics == "fermi" and filling >= n_bands:
        raise PopulationError(f"filling {filling} per cell needs more than the {n_bands} computed bands; raise "
                              "{n_bands}", parameters=("n_bands",))
    n_particles = filling * n_k
    e0 = energies.min()
    mu = None
    if statistics == "fermi":
        counts, mu = fermi_dirac_fill(energies, n_particles=n_particles, kT=kT)
    elif kT == 0:
        counts = np.zeros_like(energies)
        ground = energies == e0
        counts[ground] = 1.0
        mu = float(e0) if statistics == "bose" else None
    elif statistics == "boltzmann":
        counts = np.exp(-(energies - e0) / kT)
    else:  # bose: mu = e0 - exp(s) below the lowest state
        def excess_log(s):
            return _occupation((energies - e0 + np.exp(s)) / kT, "bose").sum() - n_particles

        s_lo, s_hi = np.log(kT) - 60.0, np.log(kT) + np.log(1.0 + energies.size / max(n_particles, 1e-300)) + 60.0
        s = brentq(excess_log, s_lo, s_hi, xtol=1e-13)
        mu = float(e0 - np.exp(s))
        counts = _occupation((energies - mu) / kT, "bose")
    populations = counts.sum(axis=1)
    populations = populations / populations.sum()
    if populations[-1] > top_band_tolerance and n_bands > 1:
        raise PopulationError(f"the highest computed band holds {populations[-1]:.2g} of the particles at this "
                              "temperature; compute more bands ({n_bands})", parameters=("n_bands",))
    return populations, mu


def displacement_moments(chern_numbers, populations) -> tuple[float, float]:
    """Mean ``sum p_n C_n`` and variance ``sum p_n C_n^2 - mean^2`` of the displacement per cycle (units of dl)."""
    c = np.asarray(chern_numbers, dtype=float)
    p = np.asarray(populations, dtype=float)
    if p.size > c.size:
        raise ValueError(f"{p.size} populations for {c.size} Chern numbers")
    c = c[: p.size]
    mean = float(p @ c)
    return mean, float(p @ c**2 - mean**2)


@dataclass(frozen=True)
class GapCrossing:
    """One avoided crossing of the pump cycle: minimum gap ``g`` at ``phi0``, diabatic slope ``a`` per rad."""

    phi0: float
    gap: float
    slope: float


def gap_crossings(phi: np.ndarray, gap: np.ndarray, *, points: int = 3) -> list[GapCrossing]:
    """Local minima of a periodic gap curve, each described by ``sqrt(g^2 + a^2 (phi - phi0)^2)``.

    ``gap^2`` at the ``points`` samples nearest each sampled minimum is fitted by a parabola in phi, which gives
    ``g``, ``a`` and ``phi0`` exactly for a hyperbolic avoided crossing, also between the samples (three points,
    the default, interpolate; more points average but feel the curve's departure from a hyperbola).

    Parameters
    ----------
    phi : ndarray, shape (n,)
        Uniform ``2 pi j / n`` (open, periodic).
    gap : ndarray, shape (n,)
        Direct gap at each phi (minimised over k), any energy unit.
    points : int, keyword-only
        Samples used per minimum (odd, >= 3).
    """
    phi = np.asarray(phi, float)
    gap = np.asarray(gap, float)
    n = phi.size
    if np.ptp(gap) <= 1e-9 * max(float(np.abs(gap).max()), 1e-300):
        return []  # a constant gap (e.g. a sliding lattice): no avoided crossing
    minima = [j for j in range(n) if gap[j] <= gap[j - 1] and gap[j] < gap[(j + 1) % n]]
    out = []
    for j in minima:
        offsets = (phi - phi[j] + np.pi) % (2 * np.pi) - np.pi
        sel = np.argsort(np.abs(offsets))[: max(3, int(points))]
        # gap^2 = a^2 (x - x0)^2 + g^2 is a parabola in x: fit it exactly
        c2, c1, c0 = np.polyfit(offsets[sel], gap[sel] ** 2, 2)
        if c2 <= 0:
            out.append(GapCrossing(phi0=float(phi[j]), gap=float(gap[j]), slope=0.0))
            continue
        x0 = -c1 / (2 * c2)
        g2 = c0 - c2 * x0**2
        phi0 = float((phi[j] + x0) % (2 * np.pi))
        out.append(GapCrossing(phi0=0.0 if phi0 > 2 * np.pi - 1e-9 else phi0, gap=float(np.sqrt(max(g2, 0.0))),
                               slope=float(np.sqrt(c2))))
    return out


def landau_zener_probability(gap_hz: float, slope_hz_per_rad: float, period_s: float) -> float:
    """Transition probability of one avoided crossing: ``exp(-pi^2 g^2 / (a dphi/dt))`` with energies in Hz.

    The gap and slope as frequencies E / h, the period in s; evaluated by
    :func:`atompump.theory.nonadiabatic.landau_zener_probability` (energy unit 1 Hz, time unit hbar / (h Hz)).
    """
    from atompump.theory.nonadiabatic import landau_zener_probability as probability, period_in_hbar_units

    if period_s <= 0:
        raise ValueError(f"the cycle period must be positive, got {period_s} s")
    if slope_hz_per_rad == 0:
        return 0.0
    return probability(min_gap=abs(gap_hz), gap_slope=abs(slope_hz_per_rad),
                       period=period_in_hbar_units(period_s, energy_unit_hz=1.0))


def combine_crossings(probabilities) -> float:
    """Band-2 population after crossings with probabilities P_i from a clean band, with back-transfer.

    ``p2 -> p2 (1 - P) + (1 - p2) P`` at each crossing: ``(1 - prod(1 - 2 P_i)) / 2`` (incoherent: the phases
    between the crossings averaged out; :mod:`atompump.theory.nonadiabatic` keeps them).
    """
    return float(0.5 * (1.0 - np.prod(1.0 - 2.0 * np.asarray(probabilities, dtype=float))))
