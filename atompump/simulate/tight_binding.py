"""Tight-binding fast path of the pump dynamics: the Rice--Mele chain in a harmonic trap.

Same interface as :class:`atompump.simulate.dynamics.ContinuumModel` (see :class:`~atompump.simulate.dynamics.
PumpModel`), so :func:`~atompump.simulate.dynamics.initial_ensemble` and :func:`~atompump.simulate.dynamics.run_pump`
work unchanged. Sites and couplings (energies in Er,s, positions in dl)::

    A_n at x = n - 1/4,  B_n at x = n + 1/4      (the two wells of the double well centred on x = n at phi = 0)
    H = sum_n [ +Delta(phi) + V_trap(x_An) ] |A_n><A_n| + [ -Delta(phi) + V_trap(x_Bn) ] |B_n><B_n|
        - J1(phi) (|A_n><B_n| + h.c.) - J2(phi) (|B_n><A_n+1| + h.c.)

This is the superlattice of :mod:`atompump.theory.superlattice` in its lowest two bands: at phi = 0 the double
wells are symmetric (Delta = 0) with the strong bond inside them (J1 > J2); for small phi > 0 the long lattice
raises A (left) above B (right), so the lowest band's atoms move towards +x and its Chern number is +1 in the sign
convention of ``physics.md``.

Couplings are any callable ``couplings(phi) -> (J1, J2, Delta)`` (arrays like ``phi``, Er,s), so couplings mapped
from the continuum bands can be plugged in. :class:`RiceMeleCouplings` is the standard parameterisation
``J1,2 = J +- dJ cos(phi)``, ``Delta(phi) = Delta sin(phi)``; its defaults reproduce the Lohse lattice's
minimum gap 2 (J1 - J2)(phi = 0) = 0.112 Er,s (physics.md: J1 = 0.061, J2 = 0.005 Er,s) and its gap at
phi = pi/2, 2 Delta = 4.52 Er,s (plane-wave bands of Vs = 10 Er,s, Vl = 20 Er,l).

Integrator: the chain is tridiagonal, so the exact propagator of ``H(phi_mid)`` over each step is obtained from
:func:`scipy.linalg.eigh_tridiagonal`; the only error is that of freezing phi at the step's midpoint (second order
in dt). Reference: Rice & Mele, PRL 49, 1455 (1982).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal

from atompump.errors import ConfigError
from atompump.simulate.dynamics import trap_curvature
from atompump.theory.superlattice import SuperlatticeParams

__all__ = ["RiceMeleCouplings", "TightBindingModel"]

Couplings = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class RiceMeleCouplings:
    """Standard Rice--Mele pump: ``J1,2 = J +- dJ cos(phi)``, on-site ``+-Delta sin(phi)`` (Er,s)."""

    J: float = 0.033
    dJ: float = 0.028
    Delta: float = 2.258

    def __post_init__(self) -> None:
        for name in ("J", "dJ", "Delta"):
            if not np.isfinite(getattr(self, name)):
                raise ConfigError(f"tight-binding coupling {name} must be finite, got {getattr(self, name)}")

    def __call__(self, phi):
        phi = np.asarray(phi, dtype=float)
        return self.J + self.dJ * np.cos(phi), self.J - self.dJ * np.cos(phi), self.Delta * np.sin(phi)


class TightBindingModel:
    """The Rice--Mele chain of ``n_cells`` double wells in a harmonic trap (open ends).

    Parameters
    ----------
    couplings : callable
        ``phi -> (J1, J2, Delta)`` in Er,s, e.g. :class:`RiceMeleCouplings`.
    n_cells : int
        Cells in the chain, centred on x = 0 (``[-n_cells/2, n_cells/2)`` dl).
    lattice : SuperlatticeParams, optional
        Only for the trap's units (mass, dl, Er,s); default the Lohse lattice with Rb-87.
    trap_hz : float
        Trap frequency along the chain, Hz.
    trap_centre : float
        Trap centre in dl.
    """

    def __init__(self, couplings: Couplings, *, n_cells: int, lattice: SuperlatticeParams | None = None,
                 trap_hz: float = 0.0, trap_centre: float = 0.0) -> None:
        if n_cells < 4:
            raise ConfigError(f"n_cells must be at least 4, got {n_cells}")
        if not callable(couplings):
            raise ConfigError("couplings must be a callable phi -> (J1, J2, Delta)")
        lattice = SuperlatticeParams() if lattice is None else lattice
        self.couplings = couplings
        self.n_cells = int(n_cells)
        self.n = 2 * self.n_cells
        cells = np.arange(self.n_cells) - self.n_cells // 2
        self.positions = np.stack([cells - 0.25, cells + 0.25], axis=1).ravel()
        self.trap_centre = float(trap_centre)
        self.trap_k = trap_curvature(trap_hz=trap_hz, mass_amu=lattice.mass_amu, dl_um=lattice.dl_um,
                                     recoil_s_hz=lattice.recoil_s_hz)
        self.v_trap = self.trap_k * (self.positions - self.trap_centre) ** 2
        self._sign = np.tile([1.0, -1.0], self.n_cells)

    def _tridiagonal(self, phi: float) -> tuple[np.ndarray, np.ndarray]:
        j1, j2, delta = (float(v) for v in self.couplings(np.asarray(phi)))
        diag = self._sign * delta + self.v_trap
        off = np.empty(self.n - 1)
        off[0::2] = -j1
        off[1::2] = -j2
        return diag, off

    def hamiltonian(self, phi: float) -> np.ndarray:
        """Dense Hamiltonian (2 n_cells, 2 n_cells) in Er,s."""
        diag, off = self._tridiagonal(phi)
        return np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)

    def _bloch(self, phi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trap-free Bloch bands: quasi-momenta k (n_cells,), energies (n_cells, 2), vectors (n_cells, 2, 2)."""
        j1, j2, delta = (float(v) for v in self.couplings(np.asarray(phi)))
        k = 2.0 * np.pi * np.fft.fftfreq(self.n_cells)
        h = np.zeros((k.size, 2, 2), dtype=complex)
        h[:, 0, 0], h[:, 1, 1] = delta, -delta
        h[:, 0, 1] = -(j1 + j2 * np.exp(-1j * k))
        h[:, 1, 0] = np.conj(h[:, 0, 1])
        e, v = np.linalg.eigh(h)
        return k, e, v

    def band_weights(self, states: np.ndarray, phi: float, n_bands: int) -> np.ndarray:
        """Weights (n_bands, n_states) of ``states`` (n, n_states) in the two Rice--Mele bands (zero above)."""
        states = np.asarray(states)
        _, _, v = self._bloch(phi)
        amp = np.fft.fft(states.reshape(self.n_cells, 2, -1), axis=0, norm="ortho")  # (k, sublattice, state)
        c = np.einsum("kab,kas->bks", v.conj(), amp)
        w = (np.abs(c) ** 2).sum(axis=1)
        out = np.zeros((n_bands, states.shape[1]))
        out[: min(n_bands, 2)] = w[: min(n_bands, 2)]
        return out

    def band_gap(self, phi: np.ndarray) -> np.ndarray:
        """Direct gap between the two bands, minimised over k (including k = pi), Er,s."""
        k = np.linspace(-np.pi, np.pi, 257)
        j1, j2, delta = (np.asarray(v, float)[..., None] for v in self.couplings(np.atleast_1d(phi)))
        return (2.0 * np.sqrt(delta**2 + np.abs(j1 + j2 * np.exp(1j * k)) ** 2)).min(axis=-1)

    def stepper(self, dt: float, substeps: int = 1):
        """Exact propagator of the tridiagonal ``H(phi_mid)`` over ``dt`` (``substeps`` is not needed here)."""

        def step(psi: np.ndarray, phi: float) -> np.ndarray:
            diag, off = self._tridiagonal(phi)
            e, w = eigh_tridiagonal(diag, off, check_finite=False)
            w[np.abs(w) < 1e-150] = 0.0  # localised eigenvectors underflow: subnormal numbers are slow
            out = ((psi @ w) * np.exp(-1j * dt * e)) @ w.T
            out[np.abs(out) < 1e-150] = 0.0
            return out

        return step
