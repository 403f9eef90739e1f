"""cnnkit.utils: data loading (cnnkit.utils.data) and model inspection (cnnkit.utils.summary)."""
from . import data
from ._summary import ModelSummary, summary

__all__ = ["data", "summary", "ModelSummary"]
