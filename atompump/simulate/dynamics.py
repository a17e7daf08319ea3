"""Atom dynamics of the pump: non-interacting atoms in the moving superlattice plus a harmonic trap.

The atoms are an ensemble of occupied single-particle orbitals (a density matrix ``rho = sum_j w_j |j><j|``)
evolved together as one matrix, one FFT per step. Two models share one interface (:class:`PumpModel`):

* :class:`ContinuumModel` -- the continuum superlattice of :mod:`atompump.theory.superlattice` plus a
  harmonic trap along the pump axis, on a periodic grid of ``n_cells`` long-lattice cells with
  ``points_per_cell`` points each::

      H(phi) = p^2 / 2m + Vs cos^2(pi x/ds) + Vl sin^2(pi x/dl - phi/2) + 1/2 m omega^2 (x - x_trap)^2

* :class:`atompump.simulate.tight_binding.TightBindingModel` -- the Rice--Mele chain with the same trap (the
  fast path for long runs).

Units: energies in the short-lattice recoil Er,s (Er,s / h = 3.90 kHz for Rb-87 at lambda_s = 767 nm), times
in hbar / Er,s (40.8 us for Rb-87), positions in dl (the long-lattice constant, the displacement of one cycle).

Integrator of the continuum model: the lattice part ``H_lat(phi)`` is block diagonal in quasi-momentum on the
grid (block ``kappa_j = j / n_cells`` couples the plane waves ``kappa_j + m``), so its propagator over a step,
with phi frozen at the step's midpoint, is computed *exactly* per block by diagonalisation; the trap enters by
Strang splitting, ``exp(-i V_trap dt/2) exp(-i H_lat(phi_mid) dt) exp(-i V_trap dt/2)``. The error is second
order in dt and comes only from the (weak, smooth) trap and from the time dependence of phi -- not from the
kinetic energy, which makes plain split-step Fourier need dt ~ 0.01 hbar/Er,s to resolve the 0.1 Er,s gap of the
Lohse lattice. Convergence in dt and in the grid is tested.

The pump: ``phi(t) = phi0 + direction * 2 pi t / T``. Reference sequences hold phi constant, so a state made of
eigenstates of ``H(phi0)`` (what :func:`initial_ensemble` prepares) does not move: their density is the t = 0
density.

References: Thouless, PRB 27, 6083 (1983); Lohse et al., Nat. Phys. 12, 350 (2016); split-operator methods:
Feit, Fleck & Steiger, J. Comput. Phys. 47, 412 (1982); Landau--Zener: Zener, Proc. R. Soc. A 137, 696 (1932).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import xarray as xr

from atompump._logging import Progress
from atompump.constants import AMU, H_PLANCK
from atompump.errors import ConfigError, ParameterError
from atompump.theory.nonadiabatic import landau_zener_probability  # the one Landau-Zener formula (re-exported)
from atompump.theory.superlattice import SuperlatticeParams
from atompump.theory.populations import fermi_dirac_fill

__all__ = [
    "ContinuumModel",
    "InitialEnsemble",
    "PumpModel",
    "PumpProtocol",
    "Orbitals",
    "ensemble_weights",
    "evolve",
    "initial_ensemble",
    "landau_zener_displacement",
    "landau_zener_probability",
    "many_body_position",
    "run_pump",
    "trap_curvature",
]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class PumpProtocol:
    """How phi is ramped.

    Attributes
    ----------
    period : float
        Cycle period T in hbar / Er,s (``T_ms = period / (2 pi Er,s/h) * 1e3``).
    direction : int
        +1: phi increases (the long lattice moves towards +x); -1: phi decreases.
    phi0 : float
        Phase at t = 0 (rad), where the atoms are loaded.
    dt : float
        Largest time step in hbar / Er,s; each interval between samples is cut into equal steps no longer.
        Phi is frozen at each step's midpoint.
    substeps : int
        Trap-splitting sub-steps per step (continuum model; the tight-binding propagator has no splitting).
    ramp : float
        Duration tau of a smooth ramp-on in hbar / Er,s (0: a sudden start at the full speed). The phase velocity
        rises as ``(2 pi / T) sin^2(pi t / (2 tau))`` for ``t < tau`` and is ``2 pi / T`` after, so the phase
        lags a sudden start by ``pi tau / T`` and whole cycles are reached at ``t_n = n T + tau / 2``.
    """

    period: float
    direction: int = 1
    phi0: float = 0.0
    dt: float = 2.0
    substeps: int = 1
    ramp: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.period) or self.period <= 0:
            raise ConfigError(f"pump cycle period must be positive, got {self.period}")
        if self.direction not in (1, -1):
            raise ConfigError(f"pump direction must be +1 or -1, got {self.direction}")
        if not np.isfinite(self.dt) or self.dt <= 0:
            raise ConfigError(f"time step dt must be positive, got {self.dt}")
        if int(self.substeps) != self.substeps or self.substeps < 1:
            raise ConfigError(f"substeps must be a positive integer, got {self.substeps}")
        if not np.isfinite(self.ramp) or self.ramp < 0:
            raise ConfigError(f"ramp-on time must be >= 0, got {self.ramp}")

    def advance(self, t: np.ndarray | float) -> np.ndarray | float:
        """Phase advanced since t = 0 in units of cycles (``|phi - phi0| / 2 pi``) at time ``t`` (hbar / Er,s)."""
        t = np.asarray(t, dtype=float)
        tau = self.ramp
        if tau == 0:
            return t / self.period
        during = t / 2.0 - tau / (2.0 * np.pi) * np.sin(np.pi * np.minimum(t, tau) / tau)
        return np.where(t < tau, during, t - tau / 2.0) / self.period

    def phi(self, t: np.ndarray | float) -> np.ndarray | float:
        """Superlattice phase at time ``t`` (hbar / Er,s)."""
        return self.phi0 + self.direction * 2.0 * np.pi * self.advance(t)

    def time_of(self, cycles: np.ndarray | float) -> np.ndarray:
        """Times (hbar / Er,s) at which the phase has advanced by ``cycles`` (>= 0) whole or partial cycles."""
        from scipy.optimize import brentq

        cycles = np.atleast_1d(np.asarray(cycles, dtype=float))
        tau = self.ramp
        out = cycles * self.period + tau / 2.0
        early = cycles * self.period < tau / 2.0  # still on the ramp: invert its phase numerically
        for i in np.flatnonzero(early):
            out[i] = 0.0 if cycles[i] <= 0 else brentq(lambda t: float(self.advance(t)) - cycles[i], 0.0, tau,
                                                       xtol=1e-12 * tau)
        return out


@dataclass(frozen=True)
class InitialEnsemble:
    """The prepared state: which trapped single-particle states are occupied, and how much.

    Attributes
    ----------
    band_populations : tuple of float
        Fraction of atoms in band n (lowest first; sum 1). Band n's orbitals are the eigenstates of the trapped
        system at phi0 whose weight in band n of the trap-free lattice exceeds 1/2.
    atoms_per_tube : float
        Atoms in the central tube (one per long-lattice cell at unit filling): the cloud's length in cells.
    cloud : {'cloud3d', 'tube'}
        'tube': one 1D tube holding ``atoms_per_tube`` atoms. 'cloud3d': the sum over the tubes of a spherical
        cloud at unit filling (Mott insulator of Lohse et al.): the tube at transverse radius rho holds
        ``atoms_per_tube * sqrt(1 - rho^2 / R^2)`` atoms, so the density along x is an inverted parabola.
    temperature : float
        k_B T in Er,s. Each tube's orbitals are filled with Fermi--Dirac occupations (unit filling makes the
        Mott insulator's atoms fermion-like) at this temperature with the chemical potential fixing its atom
        number; 0 fills the lowest states.
    n_tubes : int
        Equal-area rings used to sum over tubes ('cloud3d').
    """

    band_populations: tuple[float, ...] = (1.0,)
    atoms_per_tube: float = 35.0
    cloud: str = "cloud3d"
    temperature: float = 0.0
    n_tubes: int = 64

    def __post_init__(self) -> None:
        p = np.asarray(self.band_populations, dtype=float)
        if p.ndim != 1 or p.size == 0 or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6:
            raise ConfigError(f"band populations must be >= 0 and sum to 1, got {list(self.band_populations)}")
        if self.atoms_per_tube < 1:
            raise ConfigError(f"atoms_per_tube must be at least 1, got {self.atoms_per_tube}")
        if self.cloud not in ("cloud3d", "tube"):
            raise ConfigError(f"cloud must be 'cloud3d' or 'tube', got {self.cloud!r}")
        if self.temperature < 0:
            raise ConfigError(f"temperature must be >= 0, got {self.temperature}")


# ----------------------------------------------------------------------------------------------- models
class PumpModel(Protocol):
    """What :func:`initial_ensemble`, :func:`evolve` and :func:`run_pump` need from a model.

    Attributes
    ----------
    positions : ndarray, shape (n,)
        Position of each basis point (grid point or lattice site) in dl.
    trap_centre : float
        Trap centre in dl.
    """

    positions: np.ndarray
    trap_centre: float

    def hamiltonian(self, phi: float) -> np.ndarray:
        """Dense Hamiltonian (n, n) in Er,s at phase ``phi`` (for exact diagonalisation)."""

    def band_weights(self, states: np.ndarray, phi: float, n_bands: int) -> np.ndarray:
        """Weights (n_bands, n_states) of ``states`` (n, n_states) in the trap-free lattice's lowest bands."""

    def band_gap(self, phi: np.ndarray) -> np.ndarray:
        """Smallest direct gap between bands 1 and 2 of the trap-free lattice at each phi, in Er,s."""

    def stepper(self, dt: float, substeps: int = 1):
        """A callable ``step(psi, phi_mid)`` returning orbitals ``psi`` (n_orb, n) advanced by ``dt``."""


def trap_curvature(*, trap_hz: float, mass_amu: float, dl_um: float, recoil_s_hz: float) -> float:
    """Harmonic-trap coefficient k in ``V = k (x - x_trap)^2`` with V in Er,s and x in dl.

    ``k = m (2 pi f)^2 dl^2 / (2 h Er,s)``.
    """
    if trap_hz < 0:
        raise ConfigError(f"trap frequency must be >= 0, got {trap_hz}")
    m = mass_amu * AMU
    dl = dl_um * 1e-6
    return 0.5 * m * (2.0 * np.pi * trap_hz) ** 2 * dl**2 / (H_PLANCK * recoil_s_hz)


class ContinuumModel:
    """The continuum superlattice plus a harmonic trap on a periodic grid (see the module docstring).

    Parameters
    ----------
    lattice : SuperlatticeParams
    n_cells : int
        Long-lattice cells in the periodic box (the box spans ``[-n_cells/2, n_cells/2)`` dl).
    points_per_cell : int
        Grid points per dl (even, >= 6); plane waves up to |kappa + m| = points_per_cell / 2 are kept.
    trap_hz : float
        Trap frequency along the pump axis, Hz (0: no trap).
    trap_centre : float
        Trap centre in dl, relative to a long-lattice minimum at phi = 0.
    """

    def __init__(self, lattice: SuperlatticeParams, *, n_cells: int, points_per_cell: int = 16,
                 trap_hz: float = 0.0, trap_centre: float = 0.0) -> None:
        if n_cells < 4:
            raise ConfigError(f"n_cells must be at least 4, got {n_cells}")
        if points_per_cell < 6 or points_per_cell % 2:
            raise ConfigError(f"points_per_cell must be even and >= 6, got {points_per_cell}")
        self.lattice = lattice
        self.n_cells = int(n_cells)
        self.m = int(points_per_cell)
        self.n = self.n_cells * self.m
        self.positions = (np.arange(self.n) - self.n // 2) / self.m
        self.dx = 1.0 / self.m
        self.trap_centre = float(trap_centre)
        self.trap_k = trap_curvature(trap_hz=trap_hz, mass_amu=lattice.mass_amu, dl_um=lattice.dl_um,
                                     recoil_s_hz=lattice.recoil_s_hz)
        self.v_trap = self.trap_k * (self.positions - self.trap_centre) ** 2
        self.kappa = np.arange(self.n_cells) / self.n_cells
        self.m_of_index = np.fft.fftfreq(self.m, d=1.0 / self.m)  # plane wave m of in-block index m'
        self._vs = lattice.Vs_Er
        self._vl = lattice.Vl_in_Ers
        # in-block index of -1 - m (the mirror block j' = n_cells - j has kappa_j' = -kappa_j mod 1)
        wrap = lambda v: int(np.rint(v)) % self.m  # noqa: E731
        self._mirror = np.array([wrap(-1 - mm) for mm in self.m_of_index])

    # --- Hamiltonians ---------------------------------------------------------------------------------
    def potential(self, phi: float) -> np.ndarray:
        """Lattice plus trap potential on the grid, Er,s."""
        x = self.positions
        return (self._vs * np.cos(2.0 * np.pi * x) ** 2 + self._vl * np.sin(np.pi * x - phi / 2.0) ** 2
                + self.v_trap)

    def hamiltonian(self, phi: float) -> np.ndarray:
        """Dense grid Hamiltonian (n, n) in Er,s: ``F^dagger diag((kappa+m)^2) F + diag(V)``."""
        k2 = np.fft.fftfreq(self.n, d=1.0 / self.m) ** 2
        kinetic = np.fft.ifft(k2[:, None] * np.fft.fft(np.eye(self.n), axis=0), axis=0)
        h = 0.5 * (kinetic + kinetic.conj().T)
        h[np.diag_indices(self.n)] += self.potential(phi)
        return h

    def lattice_blocks(self, phi: float, blocks: np.ndarray | None = None) -> np.ndarray:
        """Trap-free Hamiltonian blocks (n_blocks, M, M) at quasi-momenta ``kappa_j`` (all by default)."""
        j = np.arange(self.n_cells) if blocks is None else np.asarray(blocks)
        mm = self.m
        h = np.zeros((j.size, mm, mm), dtype=complex)
        idx = np.arange(mm)
        h[:, idx, idx] = (self.kappa[j][:, None] + self.m_of_index[None, :]) ** 2 + self._vs / 2 + self._vl / 2
        up1, up2 = (idx + 1) % mm, (idx + 2) % mm
        h[:, up2, idx] += self._vs / 4.0
        h[:, idx, up2] += self._vs / 4.0
        h[:, up1, idx] += -self._vl / 4.0 * np.exp(-1j * phi)
        h[:, idx, up1] += -self._vl / 4.0 * np.exp(1j * phi)
        return h

    def _to_blocks(self, psi: np.ndarray) -> np.ndarray:
        """(n_orb, n) real space -> (n_cells, M, n_orb) plane-wave coefficients, q = j + n_cells m'."""
        f = np.fft.fft(psi, axis=-1, norm="ortho")
        return f.reshape(psi.shape[0], self.m, self.n_cells).transpose(2, 1, 0)

    def _from_blocks(self, blocks: np.ndarray) -> np.ndarray:
        n_orb = blocks.shape[-1]
        f = blocks.transpose(2, 1, 0).reshape(n_orb, self.n)
        return np.fft.ifft(f, axis=-1, norm="ortho")

    def band_weights(self, states: np.ndarray, phi: float, n_bands: int) -> np.ndarray:
        """Weight of each state (columns of ``states``, shape (n, n_states)) in the lowest ``n_bands`` bands of
        the trap-free lattice at ``phi``; shape (n_bands, n_states)."""
        _, vecs = np.linalg.eigh(self.lattice_blocks(phi))
        c = np.einsum("jmb,jms->bjs", vecs[:, :, :n_bands].conj(), self._to_blocks(np.asarray(states).T))
        return (np.abs(c) ** 2).sum(axis=1)

    def band_gap(self, phi: np.ndarray) -> np.ndarray:
        """Direct gap between bands 1 and 2 of the trap-free lattice, minimised over the grid's kappa, Er,s."""
        out = []
        for p in np.atleast_1d(phi):
            e = np.linalg.eigvalsh(self.lattice_blocks(float(p)))
            out.append((e[:, 1] - e[:, 0]).min())
        return np.array(out)

    def stepper(self, dt: float, substeps: int = 1):
        """Step of length ``dt`` at frozen phi: ``substeps`` Strang sub-steps
        ``exp(-i V_trap h/2) exp(-i H_lat(phi) h) exp(-i V_trap h/2)``, h = dt / substeps, with the lattice
        propagator exact per quasi-momentum block (one block diagonalisation per step)."""
        h = dt / substeps
        half_trap = np.exp(-0.5j * h * self.v_trap)
        nc = self.n_cells
        first = np.arange(nc // 2 + 1)  # blocks diagonalised; the others are their mirror images
        mirrored = np.arange(1, (nc + 1) // 2)
        mirror = self._mirror

        def step(psi: np.ndarray, phi: float) -> np.ndarray:
            e, w = np.linalg.eigh(self.lattice_blocks(phi, first))
            u = np.empty((nc, self.m, self.m), dtype=complex)
            u[first] = (w * np.exp(-1j * h * e)[:, None, :]) @ w.conj().transpose(0, 2, 1)
            # H_{-kappa} = P conj(H_kappa) P^T  =>  U_{-kappa}(h) = P conj(U_kappa(-h)) P^T
            wm = w[mirrored]
            back = (wm * np.exp(1j * h * e[mirrored])[:, None, :]) @ wm.conj().transpose(0, 2, 1)
            u[nc - mirrored] = back.conj()[:, mirror][:, :, mirror]
            psi = psi * half_trap
            for i in range(substeps):
                psi = self._from_blocks(u @ self._to_blocks(psi))
                psi *= half_trap if i == substeps - 1 else half_trap**2
            return psi

        return step


# ----------------------------------------------------------------------------------------------- ensemble
@dataclass
class Orbitals:
    """An ensemble of orbitals: ``rho = sum_j weights[j] |states[j]><states[j]|``.

    Attributes
    ----------
    states : ndarray, shape (n_orb, n), complex
        One normalised orbital per row on the model's basis (grid points or sites).
    weights : ndarray, shape (n_orb,)
        Occupations, summing to 1 (fractions of the atoms).
    band : ndarray of int, shape (n_orb,)
        Band (1 = lowest) each orbital was loaded in.
    energies : ndarray, shape (n_orb,)
        Eigenenergies at phi0, Er,s.
    """

    states: np.ndarray
    weights: np.ndarray
    band: np.ndarray
    energies: np.ndarray
    meta: dict = field(default_factory=dict)


def ensemble_weights(energies: np.ndarray, initial: InitialEnsemble) -> np.ndarray:
    """Occupation of each trapped state of one band (``energies`` ascending), summed over the cloud's tubes.

    For 'cloud3d' the tubes are ``n_tubes`` equal-area rings of a disc; ring i holds
    ``N_c sqrt(1 - (i + 1/2)/n_tubes)`` atoms. The result sums to the mean atoms per tube, and is normalised
    by the caller.
    """
    if initial.cloud == "tube":
        tubes = np.array([initial.atoms_per_tube])
    else:
        i = np.arange(initial.n_tubes)
        tubes = initial.atoms_per_tube * np.sqrt(1.0 - (i + 0.5) / initial.n_tubes)
    occ = np.zeros(energies.size)
    for n_atoms in tubes:
        occ += fermi_dirac_fill(energies, n_particles=min(float(n_atoms), energies.size),
                                kT=initial.temperature)[0]
    return occ / tubes.size


def initial_ensemble(model: PumpModel, initial: InitialEnsemble, *, phi0: float = 0.0,
                     weight_cutoff: float = 1e-8) -> Orbitals:
    """The prepared ensemble: trapped eigenstates of ``model`` at ``phi0`` with band character, occupied.

    The dense Hamiltonian of the model is diagonalised exactly (so the states are stationary at constant phi);
    each eigenstate is assigned to the band of the trap-free lattice in which its weight exceeds 1/2; within band
    n, states are filled by energy per :func:`ensemble_weights` and scaled by the band population p_n. Orbitals
    with occupation below ``weight_cutoff`` (relative) are dropped.

    Raises
    ------
    ParameterError
        When a band has fewer trapped states than the cloud needs (enlarge the grid: ``cells``, or lower
        ``atoms_per_tube``), or none at all.
    """
    from threadpoolctl import threadpool_limits

    pops = np.asarray(initial.band_populations, dtype=float)
    n_bands = pops.size
    with threadpool_limits(limits=1, user_api="blas"):  # see evolve()
        energies, vectors = np.linalg.eigh(model.hamiltonian(phi0))
    n_atoms = initial.atoms_per_tube
    # enough low states to contain the wanted bands' cloud: bands overlap in energy in a trap
    n_check = min(vectors.shape[1], int(max(8 * n_atoms * (n_bands + 1), 64)))
    weights_in_band = model.band_weights(vectors[:, :n_check], phi0, n_bands + 1)
    states, occupations, band_of, energy_of = [], [], [], []
    for b in range(n_bands):
        if pops[b] == 0:
            continue
        members = np.flatnonzero(weights_in_band[b] > 0.5)
        if members.size < n_atoms:
            raise ParameterError(
                f"band {b + 1} has only {members.size} trapped states among the {n_check} lowest eigenstates; "
                f"{n_atoms:g} atoms per tube need more: enlarge the simulation grid ({{cells}}) or lower "
                "{atoms_per_tube}", parameters=("cells", "atoms_per_tube"))
        occ = ensemble_weights(energies[members], initial)
        keep = occ > weight_cutoff * occ.max()
        states.append(vectors[:, members[keep]].T)
        occupations.append(pops[b] * occ[keep] / occ.sum())
        band_of.append(np.full(keep.sum(), b + 1))
        energy_of.append(energies[members[keep]])
    weights = np.concatenate(occupations)
    return Orbitals(states=np.ascontiguousarray(np.concatenate(states)), weights=weights / weights.sum(),
                    band=np.concatenate(band_of), energies=np.concatenate(energy_of),
                    meta={"phi0": phi0})


# ----------------------------------------------------------------------------------------------- evolution
def evolve(model: PumpModel, states: np.ndarray, protocol: PumpProtocol, sample_times: Sequence[float],
           ) -> list[np.ndarray]:
    """Evolve orbitals (n_orb, n) under ``H(phi(t))`` and return them at each of ``sample_times``.

    Each interval between consecutive (sorted, non-negative) sample times is cut into equal steps no longer than
    ``protocol.dt``; every step freezes phi at its midpoint (second-order accurate in dt). BLAS runs on one
    thread here: the matrices are small, and threads contending for shared cores slow each step several-fold.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return _evolve(model, states, protocol, sample_times)


def _evolve(model: PumpModel, states: np.ndarray, protocol: PumpProtocol, sample_times: Sequence[float],
            ) -> list[np.ndarray]:
    times = np.asarray(sample_times, dtype=float)
    if times.ndim != 1 or np.any(times < 0) or np.any(np.diff(times) < 0):
        raise ValueError("sample_times must be non-negative and ascending")
    psi = np.array(states, dtype=complex)
    out = []
    t = 0.0
    steppers: dict[float, object] = {}
    progress = Progress(log, f"pump dynamics, direction {protocol.direction:+d}", times.size, unit="time samples")
    for target in times:
        span = target - t
        if span > 0:
            n_steps = int(np.ceil(span / protocol.dt - 1e-9))
            dt = span / n_steps
            key = round(dt, 12)
            if key not in steppers:
                steppers[key] = model.stepper(dt, protocol.substeps)
            step = steppers[key]
            for i in range(n_steps):
                psi = step(psi, float(protocol.phi(t + (i + 0.5) * dt)))
            t = target
        out.append(psi.copy())
        progress.update()
    return out


def many_body_position(states: np.ndarray, positions: np.ndarray, box_length: float) -> float:
    """Sum of the positions of a Slater determinant's particles on a periodic box, by Resta's formula.

    ``X = L / (2 pi) arg det S`` with ``S_ij = <psi_i| exp(2 pi i x / L) |psi_j>`` (Resta, PRL 80, 1800 (1998)),
    defined modulo the box length L. For a filled band (uniform density, whose plain centre of mass cannot move)
    its change over a pump cycle, made continuous between samples, is ``N_particles * C * dl``.
    """
    phase = np.exp(2j * np.pi * np.asarray(positions) / box_length)
    s = (np.conj(states) * phase) @ states.T
    return float(box_length / (2.0 * np.pi) * np.angle(np.linalg.det(s)))


def landau_zener_displacement(probability: float, n_cycles: float, *, crossings_per_cycle: int = 2) -> float:
    """Mean displacement per cycle (units of dl, C = +1 band) after ``n_cycles`` with diabatic passages.

    Two-band model of the double-well pump: at each of the two avoided crossings per cycle an atom of band 1 (2)
    moves by +dl/2 (-dl/2) when it follows adiabatically (probability 1 - P) and stays put while changing band
    otherwise; the pump starts between two crossings. The bookkeeping is
    :func:`atompump.theory.nonadiabatic.pump_displacement` (``first_crossing = 1/4``), whose closed form after
    ``K = 2 n`` crossings is ``(1 - P) (1 - (1 - 2P)^K) / (2P) * dl / 2``, divided by n; to first order in P,
    ``1 - 2 n P`` per cycle.
    """
    from atompump.theory.nonadiabatic import pump_displacement

    if n_cycles <= 0:
        raise ValueError("n_cycles must be positive")
    if crossings_per_cycle != 2:
        raise ValueError("the superlattice pump crosses two gap minima per cycle (crossings_per_cycle = 2)")
    return float(pump_displacement(np.array([float(n_cycles)]), crossing_loss=float(probability),
                                   first_crossing=0.25)[0] / n_cycles)


# ----------------------------------------------------------------------------------------------- driver
def run_pump(model: PumpModel, orbitals: Orbitals, protocol: PumpProtocol, *, n_cycles: float,
             extra_cycles: Sequence[float] = (), dl_um: float = 1.0) -> xr.Dataset:
    """Pump ``orbitals`` for ``n_cycles`` and record the cloud after every half cycle (and at ``extra_cycles``).

    Returns
    -------
    xarray.Dataset
        Dimensions ``sample`` (times), ``x`` (basis positions), ``orbital``, ``band``. Variables:
        ``density`` (sample, x): fraction of the atoms at each basis point (sums to 1);
        ``com_dl`` (sample): centre of mass in dl; ``displacement_dl`` (sample): from t = 0;
        ``band_population`` (sample, band): weight in the trap-free lattice's instantaneous bands;
        ``orbital_com_dl`` (sample, orbital), ``orbital_distance_dl`` (orbital): each orbital's RMS distance from
        the trap centre at t = 0, ``orbital_weight`` (orbital), ``norm`` (sample).
        Coordinates ``cycle`` (sample), ``time`` (sample, hbar/Er,s), ``phi`` (sample), ``x_um`` (x).
        Attribute ``displacement_per_cycle_dl``: least-squares slope of the centre of mass over the samples at
        whole cycles.
    """
    if n_cycles < 0:
        raise ValueError("n_cycles must be >= 0")
    half = np.arange(0, 2 * n_cycles + 1e-9, 1.0) / 2.0
    cycles = np.unique(np.round(np.concatenate([half, np.asarray(extra_cycles, float), [0.0]]), 12))
    cycles = cycles[cycles <= n_cycles + 1e-12]
    times = protocol.time_of(cycles)
    snapshots = evolve(model, orbitals.states, protocol, times)
    w = orbitals.weights
    x = model.positions
    n_bands = int(orbitals.band.max()) + 1
    density, com, orb_com, bands, norm = [], [], [], [], []
    for t, psi in zip(times, snapshots):
        prob = np.abs(psi) ** 2  # (n_orb, n)
        orb_norm = prob.sum(axis=1)
        density.append(w @ prob)
        com.append(float(density[-1] @ x / density[-1].sum()))
        orb_com.append(prob @ x / orb_norm)
        bands.append(model.band_weights(psi.T, float(protocol.phi(t)), n_bands) @ w)
        norm.append(float(w @ orb_norm))
    density = np.array(density)
    com = np.array(com)
    p0 = np.abs(orbitals.states) ** 2
    distance = np.sqrt((p0 * (x - model.trap_centre) ** 2).sum(axis=1) / p0.sum(axis=1))
    whole = np.isclose(cycles, np.round(cycles)) & (cycles > 0)
    slope = float(np.polyfit(np.r_[0.0, cycles[whole]], np.r_[com[0], com[whole]], 1)[0]) if whole.any() else np.nan
    ds = xr.Dataset(
        {
            "density": (("sample", "x"), density, {"units": "1", "long_name": "fraction of atoms per basis point"}),
            "com_dl": ("sample", com, {"units": "dl", "long_name": "centre of mass"}),
            "displacement_dl": ("sample", com - com[0], {"units": "dl", "long_name": "displacement since t = 0"}),
            "band_population": (("sample", "band"), np.array(bands),
                                {"units": "1", "long_name": "population of the instantaneous trap-free bands"}),
            "orbital_com_dl": (("sample", "orbital"), np.array(orb_com),
                               {"units": "dl", "long_name": "centre of mass of each orbital"}),
            "orbital_distance_dl": ("orbital", distance,
                                    {"units": "dl", "long_name": "RMS distance of the orbital from the trap centre"}),
            "orbital_weight": ("orbital", w, {"units": "1", "long_name": "occupation"}),
            "orbital_band": ("orbital", orbitals.band, {"long_name": "band the orbital was loaded in"}),
            "norm": ("sample", np.array(norm), {"units": "1", "long_name": "total weight (1 = unitary)"}),
        },
        coords={
            "cycle": ("sample", cycles, {"units": "1", "long_name": "pump cycles"}),
            "time": ("sample", times, {"units": "hbar/Er,s"}),
            "phi": ("sample", np.asarray(protocol.phi(times), float), {"units": "rad"}),
            "x": ("x", x, {"units": "dl", "long_name": "position"}),
            "x_um": ("x", x * dl_um, {"units": "um", "long_name": "position"}),
            "band": ("band", np.arange(1, n_bands + 1)),
        },
        attrs={"displacement_per_cycle_dl": slope, "period": protocol.period, "dt": protocol.dt,
               "direction": protocol.direction, "phi0": protocol.phi0, "ramp": protocol.ramp, "dl_um": dl_um},
    )
    return ds
