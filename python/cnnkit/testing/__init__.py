"""Testing helpers: finite-difference gradient checks and comparison with PyTorch."""
from .gradcheck import gradcheck
from .compare import assert_close, compare_with_torch, torch_available

__all__ = ["gradcheck", "assert_close", "compare_with_torch", "torch_available"]
