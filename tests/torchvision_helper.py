"""Imports torchvision beside the CPU-only torch, or skips the calling test when it is absent.

torchvision's compiled operator registrations (``torchvision._meta_registrations``) fail against a
torch build they were not made for; the pure-Python models and utils do not need them, so a
placeholder module stands in before the import.
"""
import sys
import types

import pytest


def import_torchvision():
    pytest.importorskip("torch")
    sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))
    try:
        import torchvision
    except Exception as e:  # ImportError, or a torch/torchvision version clash at import time
        pytest.skip(f"torchvision unusable here: {e}")
    return torchvision
