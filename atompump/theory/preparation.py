"""Where the atoms are prepared: band populations set at loading and carried adiabatically to the pump's start.

Thermal band populations must be computed where the atoms are prepared, not in the pump lattice at its start
phase. In Lohse et al. (Nat. Phys. 12, 350 (2016)) the atoms are loaded into the long lattice alone (an n = 1
Mott insulator, one atom per long-lattice cell) and the short lattice is then ramped up to the pump's start
configuration. The loading lattice's lowest gap is large (about 7.5 kHz for Vl = 20 Er,l with Rb-87), while the
pump lattice at phi = 0 has its bands 1 and 2 only 434 Hz apart: a thermal distribution formed there at 10 nK
would put 9 % of the atoms into band 2, but formed in the long lattice it puts less than 1e-10 there.

Loading paths (:data:`LOADING_PATHS`):

``long_lattice``
    The long lattice alone (Vs = 0, Vl as configured; period dl, so the same k mesh of long-lattice cells). Its
    band n is followed adiabatically, at every k, into band n of the pump lattice at the start phase while the
    short lattice is ramped up (bands of a 1D lattice at fixed k do not cross: the populations keep their order).
``pump_start``
    Thermal equilibrium in the pump lattice itself at the start phase ``phi0``.
``populations``
    The band populations are given.

The ramp of the short lattice is assumed slow compared with the loading lattice's band gaps (adiabatic); the
statistics (Boltzmann, Bose–Einstein, Fermi–Dirac) are those of :func:`~atompump.theory.populations.band_populations`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from atompump.theory.populations import PopulationError, band_populations, kT_in_energy_unit
from atompump.theory.superlattice import SuperlatticeParams, bloch_states_at

__all__ = ["LOADING_PATHS", "Preparation", "loading_lattice", "prepared_populations"]

LOADING_PATHS = ("long_lattice", "pump_start", "populations")


def loading_lattice(params: SuperlatticeParams, path: str) -> SuperlatticeParams:
    """The lattice in which the atoms are prepared for ``path`` (see the module docstring)."""
    if path == "long_lattice":
        return replace(params, Vs_Er=0.0)
    if path in ("pump_start", "populations"):
        return params
    raise PopulationError(f"loading path must be one of {LOADING_PATHS}, got {path!r}")


@dataclass(frozen=True)
class Preparation:
    """Band populations of the prepared cloud at the pump's start.

    Attributes
    ----------
    populations : ndarray, shape (n_bands,)
        p_n, lowest band first, sum 1.
    source : str
        How they were obtained, in words.
    chemical_potential_Er : float or None
        Chemical potential at loading (Bose, Fermi), Er,s.
    loading_gap_hz : float or None
        Smallest direct gap between bands 1 and 2 of the loading lattice, Hz (None for given populations).
    beyond : float
        Fraction of the particles above the ``n_bands`` bands kept (only a thermal preparation has any).
    """

    populations: np.ndarray
    source: str
    chemical_potential_Er: float | None = None
    loading_gap_hz: float | None = None
    beyond: float = 0.0


def prepared_populations(params: SuperlatticeParams, *, loading: str = "long_lattice", phi0: float = 0.0,
                         temperature_nK: float | None = None, statistics: str = "boltzmann", filling: float = 1.0,
                         populations=None, n_bands: int = 3, n_k: int = 24, n_max: int = 10,
                         spare_bands: int = 3) -> Preparation:
    """Band populations at the pump's start for a loading path, temperature and statistics.

    Parameters
    ----------
    params : SuperlatticeParams
        The pump lattice.
    loading : {"long_lattice", "pump_start", "populations"}, keyword-only
        Where the thermal distribution forms (see the module docstring). ``populations`` uses ``populations``.
    phi0 : float, keyword-only
        Start phase of the pump, rad (the ``pump_start`` path's lattice; the long lattice alone does not depend
        on it).
    temperature_nK : float, keyword-only
        Temperature at loading, nK (>= 0; 0: the ground state). Required unless ``loading == "populations"``.
    statistics : {"boltzmann", "bose", "fermi"}, keyword-only
    filling : float, keyword-only
        Particles per long-lattice cell (chemical potential for Bose and Fermi statistics).
    populations : sequence of float, keyword-only
        Given band populations (``loading == "populations"``).
    n_bands : int, keyword-only
        Bands kept (those with Chern numbers); ``spare_bands`` more are populated to check that nothing of
        significance (> 1e-3) lies above them.
    n_k, n_max : int, keyword-only
        Cells of the ring (k mesh) and plane-wave cut-off.

    Returns
    -------
    Preparation

    Raises
    ------
    PopulationError
        Invalid path, populations or temperature, or more than 1e-3 of the particles above ``n_bands``.
    """
    if loading not in LOADING_PATHS:
        raise PopulationError(f"loading path must be one of {LOADING_PATHS}, got {loading!r}")
    if loading == "populations":
        if populations is None:
            raise PopulationError("loading 'populations' needs the band populations")
        p = np.asarray(populations, dtype=float)
        if p.ndim != 1 or p.size == 0 or np.any(p < 0) or abs(p.sum() - 1.0) > 1e-6:
            raise PopulationError(f"band populations must be >= 0 and sum to 1, got {list(p)}")
        return Preparation(populations=p, source="given")
    if temperature_nK is None:
        raise PopulationError(f"loading path {loading!r} needs a temperature")
    lattice = loading_lattice(params, loading)
    recoil_hz = params.recoil_s_hz
    kT = kT_in_energy_unit(float(temperature_nK), energy_unit_hz=recoil_hz)
    _, energies, _ = bloch_states_at(lattice, float(phi0), n_k=n_k, n_bands=n_bands + spare_bands, n_max=n_max)
    energies = energies[:-1].T  # (bands, k): drop the closing point of the mesh
    p_all, mu = band_populations(energies, kT=kT, statistics=statistics, filling=filling)
    beyond = float(p_all[n_bands:].sum())
    if beyond > 1e-3:
        raise PopulationError(f"{beyond:.2g} of the particles are above the {n_bands} bands with Chern numbers at "
                              f"{float(temperature_nK):g} nK; compute more bands ({{n_bands}})",
                              parameters=("n_bands",))
    p = p_all[:n_bands] / p_all[:n_bands].sum()
    where = ("in the long lattice alone (Vs = 0), carried adiabatically to the pump's start"
             if loading == "long_lattice" else f"in the pump lattice at phi0 = {float(phi0):.4g} rad")
    source = (f"{statistics} statistics at {float(temperature_nK):g} nK, filling {filling:g} per cell, "
              f"formed {where}")
    gap = float((energies[1] - energies[0]).min() * recoil_hz) if energies.shape[0] > 1 else None
    return Preparation(populations=p, source=source, chemical_potential_Er=None if mu is None else float(mu),
                       loading_gap_hz=gap, beyond=beyond)
