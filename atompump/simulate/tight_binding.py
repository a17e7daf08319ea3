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

The chain is the theory's Rice--Mele model (:mod:`atompump.theory.rice_mele`: one Hamiltonian, built by
:func:`~atompump.theory.rice_mele.chain_tridiagonal`, with the trap as its on-site term), so the simulator and the
prediction are the same physics. The couplings are any :class:`~atompump.theory.rice_mele.RiceMeleCouplings`
(an object with ``couplings(phi) -> (J1, J2, Delta)`` in Er,s): the standard cycle
:class:`~atompump.theory.rice_mele.RiceMeleParams` (default :data:`~atompump.theory.rice_mele.LOHSE_RICE_MELE`,
fitted to the Lohse lattice) or the couplings mapped from the continuum bands
(:func:`~atompump.theory.rice_mele.rice_mele_from_superlattice`).

Integrator: the chain is tridiagonal, so the exact propagator of ``H(phi_mid)`` over each step is obtained from
:func:`scipy.linalg.eigh_tridiagonal`; the only error is that of freezing phi at the step's midpoint (second order
in dt). Reference: Rice & Mele, PRL 49, 1455 (1982).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import eigh_tridiagonal

from atompump.errors import ConfigError
from atompump.simulate.dynamics import trap_curvature
from atompump.theory.rice_mele import (
    RiceMeleCouplings,
    bloch_hamiltonian,
    chain_tridiagonal,
    direct_gap,
    real_space_hamiltonian,
)
from atompump.theory.superlattice import SuperlatticeParams

__all__ = ["TightBindingModel"]


class TightBindingModel:
    """The Rice--Mele chain of ``n_cells`` double wells in a harmonic trap (open ends).

    Parameters
    ----------
    couplings : RiceMeleCouplings
        ``couplings.couplings(phi) -> (J1, J2, Delta)`` in Er,s, e.g.
        :data:`~atompump.theory.rice_mele.LOHSE_RICE_MELE`.
    n_cells : int
        Cells in the chain, centred on x = 0 (``[-n_cells/2, n_cells/2)`` dl).
    lattice : SuperlatticeParams, optional
        Only for the trap's units (mass, dl, Er,s); default the Lohse lattice with Rb-87.
    trap_hz : float
        Trap frequency along the chain, Hz.
    trap_centre : float
        Trap centre in dl.
    """

    def __init__(self, couplings: RiceMeleCouplings, *, n_cells: int, lattice: SuperlatticeParams | None = None,
                 trap_hz: float = 0.0, trap_centre: float = 0.0) -> None:
        if n_cells < 4:
            raise ConfigError(f"n_cells must be at least 4, got {n_cells}")
        if not isinstance(couplings, RiceMeleCouplings):
            raise ConfigError("couplings must have a method couplings(phi) -> (J1, J2, Delta), "
                              "e.g. atompump.theory.rice_mele.RiceMeleParams")
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

    def _tridiagonal(self, phi: float) -> tuple[np.ndarray, np.ndarray]:
        return chain_tridiagonal(self.couplings, phi, self.n_cells, onsite=self.v_trap)

    def hamiltonian(self, phi: float) -> np.ndarray:
        """Dense Hamiltonian (2 n_cells, 2 n_cells) in Er,s."""
        return real_space_hamiltonian(self.couplings, phi, self.n_cells, onsite=self.v_trap).real

    def _bloch(self, phi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Trap-free Bloch bands: quasi-momenta k (n_cells,), energies (n_cells, 2), vectors (n_cells, 2, 2)."""
        k = 2.0 * np.pi * np.fft.fftfreq(self.n_cells)
        e, v = np.linalg.eigh(bloch_hamiltonian(k, phi, self.couplings))
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
        """Direct gap between the two bands, minimised over k (closed form, at k = pi), Er,s."""
        return direct_gap(np.atleast_1d(np.asarray(phi, float)), self.couplings)

    def stepper(self, dt: float, substeps: int = 1):
        """Exact propagator of the tridiagonal ``H(phi_mid)`` over ``dt`` (``substeps`` is not needed here)."""

        def step(psi: np.ndarray, phi: float) -> np.ndarray:
            diag, off = self._tridiagonal(phi)
            e, w = eigh_tridiagonal(diag, off, check_finite=False)
            w[np.abs(w) < 1e-150] = 0.0  # localised eigenvectors underflow: subnormal numbers are slow
            # psi w exp(-i e dt) w^T with the real w applied to the real and imaginary parts stacked (one real
            # product each way, a quarter of the arithmetic of a complex one)
            n_orb = psi.shape[0]
            amp = np.concatenate((psi.real, psi.imag)) @ w
            amp = (amp[:n_orb] + 1j * amp[n_orb:]) * np.exp(-1j * dt * e)
            back = np.concatenate((amp.real, amp.imag)) @ w.T
            out = back[:n_orb] + 1j * back[n_orb:]
            out[np.abs(out) < 1e-150] = 0.0
            return out

        return step
