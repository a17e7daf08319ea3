"""Physical constants (CODATA 2018, exact SI values where defined) and atomic species data."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["H_PLANCK", "HBAR", "K_B", "AMU", "Species", "SPECIES", "recoil_energy_hz", "resonant_cross_section_um2"]

H_PLANCK = 6.626_070_15e-34  # J s
HBAR = H_PLANCK / (2.0 * np.pi)  # J s
AMU = 1.660_539_066_60e-27  # kg
K_B = 1.380_649e-23  # J/K (exact)


@dataclass(frozen=True)
class Species:
    """An atomic species used for lattice recoil energies and absorption cross-sections.

    Attributes
    ----------
    name : str
    mass_amu : float
        Atomic mass in unified atomic mass units.
    imaging_wavelength_nm : float
        Wavelength of the closed imaging transition (vacuum), nm.
    """

    name: str
    mass_amu: float
    imaging_wavelength_nm: float


SPECIES: dict[str, Species] = {
    "Rb87": Species("Rb87", 86.909_180_527, 780.241_209_686),  # D2 line, Steck
    "K40": Species("K40", 39.963_998_166, 766.700_674_87),  # D2 line, Tiecke
    "Na23": Species("Na23", 22.989_769_281, 589.158_326_4),  # D2 line, Steck
    "Li6": Species("Li6", 6.015_122_887, 670.977_338),  # D2 line, Gehm
    "Yb174": Species("Yb174", 173.938_866_4, 398.911),  # 1S0-1P1
}


def recoil_energy_hz(*, lattice_constant_nm: float, mass_amu: float) -> float:
    """Recoil energy E_r / h = h / (8 m d^2) of a lattice with constant ``d`` (in Hz).

    For a retro-reflected lattice d = lambda / 2 and this equals h / (2 m lambda^2).
    """
    if lattice_constant_nm <= 0 or mass_amu <= 0:
        raise ValueError("lattice constant and mass must be positive")
    d = lattice_constant_nm * 1e-9
    m = mass_amu * AMU
    return H_PLANCK / (8.0 * m * d**2)


def resonant_cross_section_um2(wavelength_nm: float) -> float:
    """Resonant cross-section of a closed cycling transition, sigma_0 = 3 lambda^2 / (2 pi), in um^2."""
    lam_um = wavelength_nm * 1e-3
    return 3.0 * lam_um**2 / (2.0 * np.pi)
