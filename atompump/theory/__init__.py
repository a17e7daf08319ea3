"""Theory of topological pumps: band structures, Berry curvature, Chern numbers, Wannier centres, model family.

Modules
-------
superlattice   plane-wave Bloch bands of V = Vs cos^2(pi x/ds) + Vl sin^2(pi x/dl - phi/2), basis convergence
berry          Fukui–Hatsugai–Suzuki Chern numbers (single bands and groups), Berry curvature, Wilson-loop centres
refine         mesh refinement until the Chern numbers are stable integers
topology       the superlattice's bands and invariants over a pump cycle as an xarray Dataset
tight_binding  the same for any Bloch Hamiltonian H(k, phi) (band groups, polished minimum gaps)
wannier        maximally localised Wannier functions of a band group at fixed phi, tight-binding matrices
geometry       Fubini–Study quantum metric and the gauge-invariant Wannier spread
rice_mele      the Rice–Mele model (conventions for the simulator) and its extraction from the continuum
populations    Boltzmann/Bose/Fermi band populations, displacement moments, Landau–Zener loss estimate
nonadiabatic   band-averaged non-adiabatic loss per cycle (crossings, ramp start, ramp-on), exact k-resolved reference
prediction     everything the workflow and the command line report for a superlattice
aubry_andre    Aubry–André (Harper) chain at beta = p/q: band Chern numbers, pumped charge per gap, Diophantine
hofstadter     Harper–Hofstadter lattice: TKNN, sigma_xy per gap, Laughlin flux insertion on a cylinder
dot_pump       single-level quantum-dot pump: Brouwer charge and winding number
disorder       pumped charge of a disordered Rice–Mele ring with twisted boundary conditions
commands       the ``atompump theory MODEL`` sub-commands
"""

from atompump.theory.berry import berry_curvature, chern_number, wannier_centres
from atompump.theory.rice_mele import CallableRiceMele, RiceMeleParams, SampledRiceMele, rice_mele_from_superlattice
from atompump.theory.superlattice import SuperlatticeParams, bloch_states, converged_n_max, hamiltonian
from atompump.theory.topology import check_gaps, expected_displacement, superlattice_topology

__all__ = [
    "CallableRiceMele",
    "RiceMeleParams",
    "SampledRiceMele",
    "SuperlatticeParams",
    "berry_curvature",
    "bloch_states",
    "check_gaps",
    "chern_number",
    "converged_n_max",
    "expected_displacement",
    "hamiltonian",
    "rice_mele_from_superlattice",
    "superlattice_topology",
    "wannier_centres",
]
