"""Plain regression tests for discrepancies with torch that the property-based tests (test_fuzz_*.py) found."""
import numpy as np
import pytest

import cnnkit


@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_prod_of_0d_tensor_over_its_implicit_dim(dim, keepdim):
    # found by test_fuzz_reduce: x.prod(0) on a 0-d tensor raised IndexError (torch returns x)
    x = cnnkit.tensor(3.0, requires_grad=True)
    y = x.prod(dim, keepdim=keepdim)
    assert y.shape == () and y.item() == 3.0
    y.backward()
    assert x.grad.item() == 1.0
    with pytest.raises(IndexError):
        x.prod(1)
