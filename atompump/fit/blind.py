"""Blind analysis: a hidden offset on the displacement per cycle until the analysis is frozen.

With ``fit.blind: true`` the fit stage adds ``direction * offset * dl * cycle`` to the centre of every pumped shot
before any fit (reference shots complete no cycle and are unchanged). Every analysis the fit stage does is linear
in that term, so every quantity that measures the pump carries the same offset and nothing else changes:

* the linear, linear-drift and per-direction fits give ``nu + offset`` (each direction's slope too), the
  differential analyses (pumped minus reference, x(+) - x(-)) and the bootstrap ``nu + offset``, with the same
  errors, residuals, pulls, chi-square and offset x0 as without blinding;
* the efficiency model's beta is that of the blinded slope (it measures the pump);
* derived numbers (displacement per cycle in um, deviation from theory, efficiency nu/C) follow.

The offset is uniform in ``[-BLIND_HALF_WIDTH, BLIND_HALF_WIDTH]`` (in units of dl), drawn from a secret by
HMAC-SHA256 (RFC 2104): the same secret gives the same offset (so a blinded run is reproducible byte for byte),
and the secret cannot be recovered from the check value a blinded summary carries (:func:`secret_check`), which only
tells ``atompump unblind`` that it holds the right secret.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np

from atompump.fit.analyses import PumpData

__all__ = ["BLIND_HALF_WIDTH", "blind_centres", "blind_offset", "blind_pump_data", "secret_check"]

BLIND_HALF_WIDTH = 0.25  # dl: several times a typical error of nu, so the blinded value says nothing of theory


def _hmac_unit(secret: bytes, label: bytes) -> float:
    digest = hmac.new(secret, label, hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def blind_offset(secret: bytes) -> float:
    """The hidden offset of nu (units of dl) that ``secret`` gives: uniform in [-0.25, 0.25)."""
    if not secret:
        raise ValueError("the blinding secret is empty")
    return (2.0 * _hmac_unit(secret, b"atompump: blind offset of nu") - 1.0) * BLIND_HALF_WIDTH


def secret_check(secret: bytes) -> str:
    """A 16-hex-digit fingerprint of ``secret`` (HMAC-SHA256 of a fixed label), stored in a blinded summary so that
    unblinding can tell the right secret from a wrong one; it reveals neither the secret nor the offset."""
    return hmac.new(secret, b"atompump: blind secret check", hashlib.sha256).hexdigest()[:16]


def blind_centres(x_um, *, cycle, direction, reference, offset: float, dl_um: float) -> np.ndarray:
    """``x + direction * offset * dl * cycle`` for pumped shots, ``x`` for reference shots (um)."""
    cycle = np.where(np.asarray(reference, bool), 0.0, np.asarray(cycle, float))
    return np.asarray(x_um, float) + np.asarray(direction, float) * offset * dl_um * cycle


def blind_pump_data(data: PumpData, *, offset: float, dl_um: float) -> PumpData:
    """``data`` with blinded centres (:func:`blind_centres`); errors, cycles and order unchanged."""
    x = blind_centres(data.x_um, cycle=data.cycle, direction=data.direction, reference=data.reference,
                      offset=offset, dl_um=dl_um)
    return PumpData(data.cycle, data.direction, x, data.x_err_um, data.order, data.reference, data.shot,
                    data.sequence)
