"""Progress output of ``fit``: a tqdm bar per epoch, or plain lines.

``verbose`` (Keras' convention): 0/False prints nothing; 1/True/"auto" shows a tqdm progress bar
(loss, accuracy, images/s; tqdm adds the ETA) when tqdm is installed (the ``progress`` extra) and
the output is a terminal, and otherwise one line per epoch; 2 always prints plain lines. With
``log_every=N`` the plain mode also prints a line every N batches (running loss/accuracy, images/s,
ETA of the epoch).
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import time

__all__ = ["Progress", "progress_mode", "format_logs"]


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


def _fixed_width(stream):
    """None when tqdm can size the bar to the terminal; else a width (a pseudo-terminal that reports
    a 0x0 size, e.g. under ``script`` or some CI runners, would otherwise get an empty or hidden bar)."""
    try:
        cols = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return 80
    return None if cols > 0 else shutil.get_terminal_size().columns or 80


def progress_mode(verbose, stream):
    """'bar', 'lines' or None for a ``verbose`` value and an output stream."""
    if verbose is False or verbose == 0 or verbose is None:
        return None
    if verbose is True or verbose in (1, "auto"):
        isatty = getattr(stream, "isatty", None)
        tty = bool(isatty()) if callable(isatty) else False
        return "bar" if tty and _tqdm() is not None else "lines"
    if verbose == 2:
        return "lines"
    raise ValueError(f"fit: verbose must be 0, 1, 2, True, False or 'auto', got {verbose!r}")


def _fmt(value):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if (abs(value) < 1e-3 and value != 0) else f"{value:.4f}"
    return str(value)


def format_logs(logs, skip=("time",)):
    """``"loss: 0.1234 - accuracy: 0.9500 - ..."`` for a logs dict."""
    return " - ".join(f"{k}: {_fmt(v)}" for k, v in logs.items() if k not in skip)


def _short(key):
    """Bar postfix names kept short so the bar fits a terminal line: accuracy -> acc."""
    return key.replace("accuracy", "acc")


def _duration(seconds):
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    m, s = divmod(seconds, 60)
    if m < 60:
        return f"{m}m{s:02d}s"
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m"


class Progress:
    """Reports one epoch at a time: ``epoch_begin``, ``batch`` after each step, ``epoch_end``."""

    def __init__(self, mode, epochs, steps=None, stream=None, log_every=None):
        if log_every is not None and (not isinstance(log_every, int) or isinstance(log_every, bool) or log_every < 1):
            raise ValueError(f"fit: log_every must be a positive int or None, got {log_every!r}")
        self.mode = mode
        self.epochs = epochs
        self.steps = steps
        self.stream = stream if stream is not None else sys.stdout
        self.log_every = log_every
        self._bar = None
        self._t0 = None

    def _steps_text(self, step):
        return f"{step}/{self.steps}" if self.steps else f"{step}"

    def epoch_begin(self, epoch):
        self._t0 = time.perf_counter()
        if self.mode == "bar":
            width = _fixed_width(self.stream)
            self._bar = _tqdm()(total=self.steps, desc=f"Epoch {epoch + 1}/{self.epochs}", file=self.stream,
                                unit="batch", leave=True, dynamic_ncols=width is None, ncols=width,
                                nrows=None if width is None else 24)

    def batch(self, epoch, step, running, images):
        """``step``: batches done; ``running``: the epoch's running loss/metrics; ``images``: seen so far."""
        elapsed = time.perf_counter() - self._t0
        rate = images / elapsed if elapsed > 0 else 0.0
        if self._bar is not None:
            post = {"img/s": f"{rate:.0f}"}  # first: the part of the line a narrow terminal keeps
            post.update({_short(k): f"{v:.4f}" for k, v in list(running.items())[:2] if v is not None})
            self._bar.set_postfix(post, refresh=False)
            self._bar.update(1)
        elif self.mode == "lines" and self.log_every and step % self.log_every == 0 and step != self.steps:
            eta = "" if not self.steps else f" - ETA {_duration(elapsed / step * (self.steps - step))}"
            print(f"Epoch {epoch + 1}/{self.epochs} - {self._steps_text(step)} - {format_logs(running)} - "
                  f"{rate:.0f} img/s{eta}", file=self.stream, flush=True)

    def epoch_end(self, epoch, logs, steps, images, train_seconds):
        rate = images / train_seconds if train_seconds > 0 else 0.0
        if self._bar is not None:
            post = {"img/s": f"{rate:.0f}"}
            post.update({_short(k): f"{v:.4f}" for k, v in logs.items()
                         if k not in ("time", "lr") and isinstance(v, float)})
            self._bar.set_postfix(post, refresh=True)
            self._bar.close()
            self._bar = None
        elif self.mode == "lines":
            print(f"Epoch {epoch + 1}/{self.epochs} - {self._steps_text(steps)} - {logs.get('time', 0.0):.1f}s - "
                  f"{rate:.0f} img/s - {format_logs(logs)}", file=self.stream, flush=True)

    def message(self, text):
        if self.mode is not None:
            print(text, file=self.stream, flush=True)

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
