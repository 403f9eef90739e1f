"""cnnkit.train: ``fit`` / ``evaluate`` / ``predict``, ``History`` and callbacks.

Keras' convenience with PyTorch's honesty: ``fit`` is the plain loop (zero_grad, forward, loss,
backward, step; ``model.train()``/``model.eval()``; ``no_grad`` for validation) plus progress output,
metrics, scheduler steps, callbacks and resumable checkpoints.
"""
from .callbacks import Callback, CSVLogger, EarlyStopping, FitState, LambdaCallback, ModelCheckpoint
from .checkpoint import load_checkpoint
from .evaluate import EvalResult, evaluate, predict
from .fit import fit
from .history import History
from .metrics import accuracy, confusion_matrix, precision_recall_f1, top_k_accuracy

__all__ = ["fit", "evaluate", "predict", "History", "EvalResult", "Callback", "FitState", "EarlyStopping",
           "ModelCheckpoint", "LambdaCallback", "CSVLogger", "load_checkpoint", "accuracy", "top_k_accuracy",
           "confusion_matrix", "precision_recall_f1"]
