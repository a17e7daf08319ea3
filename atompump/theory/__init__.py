"""Theory of topological pumps: band structures, Berry curvature, Chern numbers and Wannier centres.

Modules
-------
superlattice   plane-wave Bloch bands of V = Vs cos^2(pi x/ds) + Vl sin^2(pi x/dl - phi/2)
berry          Fukui–Hatsugai–Suzuki Chern numbers, Berry curvature, Wilson-loop Wannier centres
topology       the lattice's bands and invariants over a pump cycle as an xarray Dataset
"""

from atompump.theory.berry import berry_curvature, chern_number, wannier_centres
from atompump.theory.superlattice import SuperlatticeParams, bloch_states, hamiltonian
from atompump.theory.topology import check_gaps, expected_displacement, superlattice_topology

__all__ = [
    "SuperlatticeParams",
    "berry_curvature",
    "bloch_states",
    "check_gaps",
    "chern_number",
    "expected_displacement",
    "hamiltonian",
    "superlattice_topology",
    "wannier_centres",
]
