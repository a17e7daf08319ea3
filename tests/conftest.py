"""Shared fixtures of the atompump test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)
