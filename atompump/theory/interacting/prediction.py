"""The interacting prediction of the theory stage: the configured lattice's Rice–Mele ring with interactions.

``theory.interaction`` (config) describes the atoms: ``particles`` (``none``: the non-interacting prediction only,
the default; ``bosons``: Bose–Hubbard with at most ``max_occupation`` per site, one atom per long-lattice cell as in
Lohse's Mott insulator; ``spinful_fermions``: two-component Fermi–Hubbard at one atom per site), ``U_Er`` (on-site
interaction in Er,s), ``n_cells`` (ring size). The couplings J1(phi), J2(phi), Delta(phi) come from the continuum
bands' Wannier functions (:func:`atompump.theory.rice_mele.rice_mele_from_superlattice`), the many-body Chern
number over (twist, phi) from :func:`atompump.theory.interacting.hubbard.interacting_pump`; the displacement per
cycle of one atom, in dl, is the pumped charge divided by the atoms per cell.
"""

from __future__ import annotations

from atompump.errors import ParameterError, literal
from atompump.theory.interacting.fock import check_dimension, space_dimension

__all__ = ["interacting_prediction", "PARTICLES"]

PARTICLES = {"bosons": "bosons", "spinful_fermions": "spinful"}


def interacting_prediction(params, *, particles: str, U_Er: float, n_cells: int, max_occupation: int,
                           max_dimension: int, n_theta: int = 6, n_phi: int = 24, rice_mele_n_phi: int = 48,
                           n_max: int = 10) -> dict | None:
    """JSON-ready interacting prediction for the superlattice ``params``, or None when ``particles='none'``.

    Parameters
    ----------
    params : SuperlatticeParams
        The lattice.
    particles : str, keyword-only
        ``none``, ``bosons`` or ``spinful_fermions`` (:data:`PARTICLES`).
    U_Er : float, keyword-only
        On-site interaction, Er,s.
    n_cells : int, keyword-only
        Long-lattice cells of the ring.
    max_occupation : int, keyword-only
        Bosons per site at most.
    max_dimension : int, keyword-only
        The largest Hilbert space allowed.
    n_theta, n_phi : int, keyword-only
        Twist and pump-phase grid of the many-body Chern number
        (:func:`atompump.theory.interacting.hubbard.interacting_pump`).
    rice_mele_n_phi, n_max : int, keyword-only
        Phase grid and plane-wave cutoff of the Rice–Mele couplings
        (:func:`atompump.theory.rice_mele.rice_mele_from_superlattice`).

    Raises
    ------
    ParameterError
        When the Hilbert space exceeds ``max_dimension`` (names its size and what to lower), or the lattice has
        no Rice–Mele description. The messages name the parameters above; the theory stage names the config keys
        (``theory.interaction.*``).
    """
    kind = particles
    if kind == "none":
        return None
    particles = PARTICLES[kind]
    n_cells = int(n_cells)
    max_occupation = int(max_occupation)
    n_particles = (n_cells, n_cells) if particles == "spinful" else n_cells
    dimension = space_dimension(n_sites=2 * n_cells, particles=particles, n_particles=n_particles,
                                max_occupation=max_occupation)
    check_dimension(dimension, max_dimension=int(max_dimension),
                    what=f"the interacting ring ({kind}, n_cells {n_cells}, max_occupation {max_occupation})",
                    lower="{n_cells} (or {max_occupation}), or raise {max_dimension} if the machine has the memory",
                    parameters=("n_cells", "max_occupation", "max_dimension"))
    from atompump.theory.interacting.hubbard import interacting_pump
    from atompump.theory.rice_mele import rice_mele_from_superlattice

    try:
        model = rice_mele_from_superlattice(params, n_phi=rice_mele_n_phi, n_max=n_max)
    except ArithmeticError as exc:
        raise ParameterError(literal(f"the lattice has no Rice-Mele description ({exc}); ") + "set {particles}: none",
                             parameters=("particles",)) from exc
    U = float(U_Er)
    result = interacting_pump(model, n_cells=n_cells, particles=particles, U=U, max_occupation=max_occupation,
                              n_theta=int(n_theta), n_phi=int(n_phi))
    per_cell = 2 if particles == "spinful" else 1
    out = result.summary()
    out.update({"particles": kind, "U_Er": U, "n_cells": n_cells, "max_occupation": max_occupation,
                "atoms_per_cell": per_cell, "nu_theory_interacting": result.pumped_charge / per_cell,
                "energy_unit": "Er,s", "method": "exact diagonalisation on a ring with a twist (scipy.sparse)"})
    return out
