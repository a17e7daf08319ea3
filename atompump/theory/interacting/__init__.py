"""Interacting pumps by exact diagonalisation (issue 13).

Why plain ``scipy.sparse`` and no ED library: the systems that fit on a laptop (up to ~10^5-10^6 states) need only
a fixed-particle-number Fock basis, a hopping operator with a Jordan–Wigner sign, and Lanczos; that is ~150 lines
(:mod:`.fock`) with no momentum or symmetry sectors (the twist on one bond and the superlattice break translation
anyway). QuSpin and TeNPy are not in this environment's dependencies, QuSpin has no wheels for every platform we
support and TeNPy's MPS methods need an infinite or open chain rather than the twisted ring of the many-body Chern
number; neither is needed at these sizes, so atompump adds no dependency.

Modules
-------
fock
    Fock bases (spinless/spinful fermions, bosons with a maximum occupation) and precomputed sparse Hamiltonians.
manybody
    Many-body Fukui–Hatsugai–Suzuki Chern numbers (non-Abelian for a quasi-degenerate manifold), gaps, Resta
    polarisation.
hubbard
    The Rice–Mele–Hubbard and Rice–Mele–Bose–Hubbard rings with a twist: Hubbard–Thouless breakdown,
    interaction-induced pumping.
fractional
    Bosons at fractional filling in a 1D superlattice (q-fold manifold, C/q per state); Harper–Hofstadter bosons.
dynamics
    Exact time evolution: charge per cycle against the pump period.
coulomb_dot
    The Coulomb-blockade turnstile (sequential-tunnelling master equation, closed form).
disorder_scan
    Pumped charge against disorder width over seeded realisations and ring sizes.
prediction, commands
    The theory stage's ``theory.interaction`` prediction; the ``atompump theory`` sub-commands.

Overview with figures and measured numbers: ``docs/theory.md``; speed: ``benchmarks/interacting.py``.
"""
