import numpy as np
import pytest

import cnnkit


@pytest.fixture(autouse=True)
def _seed():
    cnnkit.manual_seed(0)
    np.random.seed(0)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
