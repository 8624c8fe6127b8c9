"""Shared fixtures. Tests run offline: no weights or datasets are downloaded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """Two real photographs (cropped) from scikit-image's embedded data."""
    from skimage import data

    return {"astronaut": data.astronaut()[100:228, 150:310], "coffee": data.coffee()[50:170, 100:260]}
