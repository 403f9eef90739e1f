"""``SummaryWriter``: torch.utils.tensorboard's writer for cnnkit, writing TensorBoard event files
through the ``tensorboard`` package's ``EventFileWriter`` (a queue flushed by a background thread
every ``flush_secs`` or when ``max_queue`` events wait). No torch import; the ``add_graph`` tracer
is torch.jit-specific and is not available."""
from __future__ import annotations

import os
import time

from . import summary as S
from ._convert import figure_to_image, make_np
from ._proto import tb

__all__ = ["FileWriter", "SummaryWriter"]


class FileWriter:
    """Writes Event protocol buffers to one event file in ``log_dir`` (created when missing)."""

    def __init__(self, log_dir, max_queue=10, flush_secs=120, filename_suffix=""):
        self.event_writer = tb().EventFileWriter(str(log_dir), max_queue, flush_secs, filename_suffix)

    def get_logdir(self):
        return self.event_writer.get_logdir()

    def add_event(self, event, step=None, walltime=None):
        """Stamps ``event`` with the wall time (now unless given) and the step, and queues it."""
        event.wall_time = time.time() if walltime is None else float(walltime)
        if step is not None:
            event.step = int(step)
        self.event_writer.add_event(event)

    def add_summary(self, summary, global_step=None, walltime=None):
        self.add_event(tb().Event(summary=summary), global_step, walltime)

    def flush(self):
        self.event_writer.flush()

    def close(self):
        self.event_writer.close()


def _default_bins():
    """TensorFlow's histogram buckets: +-1e-12 growing by 10 % up to 1e20, and 0 (1549 edges)."""
    pos, v = [], 1e-12
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-x for x in reversed(pos)] + [0] + pos


class SummaryWriter:
    """Writes scalars, images, histograms, text, hyper-parameters, ... to TensorBoard event files in
    ``log_dir`` (default ``runs/<Mon DD_HH-MM-SS>_<hostname><comment>``). ``purge_step`` hides events
    at or after that step left by a crashed run in the same ``log_dir``; ``max_queue`` and
    ``flush_secs`` control when queued events reach the disk; ``filename_suffix`` ends the event
    file's name. Use as a context manager or call ``close()``. Needs the ``tensorboard`` package."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120,
                 filename_suffix=""):
        tb()  # ImportError naming the extra before anything is created
        if not log_dir:
            import socket
            from datetime import datetime

            log_dir = os.path.join("runs", datetime.now().strftime("%b%d_%H-%M-%S") + "_" +
                                   socket.gethostname() + comment)
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer = self.all_writers = None
        self._get_file_writer()
        self.default_bins = _default_bins()

    def _get_file_writer(self):
        """The main FileWriter, made again (a new event file) after ``close()``."""
        if self.all_writers is None or self.file_writer is None:
            self.file_writer = FileWriter(self.log_dir, self.max_queue, self.flush_secs, self.filename_suffix)
            self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
            if self.purge_step is not None:
                p = tb()
                step = self.purge_step
                self.file_writer.add_event(p.Event(step=step, file_version="brain.Event:2"))
                self.file_writer.add_event(p.Event(step=step, session_log=p.SessionLog(status=p.SessionLog.START)))
                self.purge_step = None
        return self.file_writer

    def get_logdir(self):
        return self.log_dir

    def _add(self, summary, global_step, walltime):
        self._get_file_writer().add_summary(summary, global_step, walltime)

    def add_hparams(self, hparam_dict, metric_dict, hparam_domain_discrete=None, run_name=None, global_step=None):
        """One hyper-parameter run: the hparams summaries and the metrics as scalars, in a sub-run
        ``<log_dir>/<run_name>`` (default: the current time), as torch does."""
        if type(hparam_dict) is not dict or type(metric_dict) is not dict:
            raise TypeError("add_hparams: hparam_dict and metric_dict should be dictionary.")
        exp, ssi, sei = S.hparams(hparam_dict, metric_dict, hparam_domain_discrete)
        logdir = os.path.join(self._get_file_writer().get_logdir(), run_name or str(time.time()))
        with SummaryWriter(log_dir=logdir) as w:
            for s in (exp, ssi, sei):
                w.file_writer.add_summary(s, global_step)
            for k, v in metric_dict.items():
                w.add_scalar(k, v, global_step)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False,
                   double_precision=False):
        """One point of the curve ``tag``: a number or a one-element tensor/array."""
        self._add(S.scalar(tag, scalar_value, new_style=new_style, double_precision=double_precision),
                  global_step, walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several curves in one chart ``main_tag``: each key gets its own sub-run
        ``<log_dir>/<main_tag>_<key>`` (slashes of main_tag become '_'), torch's layout."""
        if not isinstance(tag_scalar_dict, dict):
            raise TypeError(f"add_scalars: tag_scalar_dict must be a dict, got {type(tag_scalar_dict).__name__}")
        walltime = time.time() if walltime is None else walltime
        base = self._get_file_writer().get_logdir()
        for tag, value in tag_scalar_dict.items():
            key = base + "/" + main_tag.replace("/", "_") + "_" + tag
            fw = self.all_writers.get(key)
            if fw is None:
                fw = self.all_writers[key] = FileWriter(key, self.max_queue, self.flush_secs, self.filename_suffix)
            fw.add_summary(S.scalar(main_tag, value), global_step, walltime)

    def add_tensor(self, tag, tensor, global_step=None, walltime=None):
        """A whole tensor (shape and dtype kept) for the tensor plugin."""
        self._add(S.tensor_proto(tag, tensor), global_step, walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None, max_bins=None):
        """A histogram of ``values``: ``bins`` 'tensorflow' (TensorBoard's exponential buckets) or
        anything ``np.histogram`` takes ('auto', 'fd', an int, edges)."""
        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._add(S.histogram(tag, values, bins, max_bins=max_bins), global_step, walltime)

    def add_histogram_raw(self, tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts,  # noqa: A002
                          global_step=None, walltime=None):
        """A histogram from precomputed statistics (``bucket_limits``: each bucket's right edge)."""
        if len(bucket_limits) != len(bucket_counts):
            raise ValueError("len(bucket_limits) != len(bucket_counts), see the document.")
        self._add(S.histogram_raw(tag, min, max, num, sum, sum_squares, bucket_limits, bucket_counts),
                  global_step, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """One image, PNG-encoded: float in [0, 1] or uint8; ``dataformats`` e.g. 'CHW', 'HWC', 'HW'."""
        self._add(S.image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images tiled into one grid image (8 per row)."""
        self._add(S.image(tag, img_tensor, dataformats=dataformats), global_step, walltime)

    def add_image_with_boxes(self, tag, img_tensor, box_tensor, global_step=None, walltime=None, rescale=1,
                             dataformats="CHW", labels=None):
        """An image with boxes (N, 4) as (x_min, y_min, x_max, y_max) drawn in red, optionally labelled."""
        if labels is not None:
            if isinstance(labels, str):
                labels = [labels]
            if len(labels) != box_tensor.shape[0]:
                labels = None
        self._add(S.image_boxes(tag, img_tensor, box_tensor, rescale=rescale, dataformats=dataformats,
                                labels=labels), global_step, walltime)

    def add_figure(self, tag, figure, global_step=None, close=True, walltime=None):
        """A matplotlib Figure (or a list of them, tiled) rendered to an image; ``close`` closes it."""
        fmt = "NCHW" if isinstance(figure, (list, tuple)) else "CHW"
        self.add_image(tag, figure_to_image(figure, close), global_step, walltime, dataformats=fmt)

    def add_audio(self, tag, snd_tensor, global_step=None, sample_rate=44100, walltime=None):
        """Mono audio, samples in [-1, 1], stored as 16-bit WAV."""
        self._add(S.audio(tag, snd_tensor, sample_rate=sample_rate), global_step, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """A (markdown) string for the text dashboard."""
        self._add(S.text(tag, text_string), global_step, walltime)

    def add_pr_curve(self, tag, labels, predictions, global_step=None, num_thresholds=127, weights=None,
                     walltime=None):
        """A precision-recall curve of binary labels against scores in [0, 1]."""
        self._add(S.pr_curve(tag, labels, predictions, num_thresholds, weights), global_step, walltime)

    def add_pr_curve_raw(self, tag, true_positive_counts, false_positive_counts, true_negative_counts,
                         false_negative_counts, precision, recall, global_step=None, num_thresholds=127,
                         weights=None, walltime=None):
        """A precision-recall curve from precomputed per-threshold values."""
        self._add(S.pr_curve_raw(tag, true_positive_counts, false_positive_counts, true_negative_counts,
                                 false_negative_counts, precision, recall, num_thresholds, weights),
                  global_step, walltime)

    def add_custom_scalars(self, layout):
        """Custom charts grouping scalar tags: {category: {chart: ['Multiline'|'Margin', [tags]]}}."""
        self._add(S.custom_scalars(layout), None, None)

    def add_custom_scalars_multilinechart(self, tags, category="default", title="untitled"):
        self.add_custom_scalars({category: {title: ["Multiline", tags]}})

    def add_custom_scalars_marginchart(self, tags, category="default", title="untitled"):
        if len(tags) != 3:
            raise ValueError(f"add_custom_scalars_marginchart: expected 3 tags, got {len(tags)}")
        self.add_custom_scalars({category: {title: ["Margin", tags]}})

    def add_embedding(self, mat, metadata=None, label_img=None, global_step=None, tag="default",
                      metadata_header=None):
        """Points (N, D) for the embedding projector, with optional labels (``metadata``: N values, or
        N rows under ``metadata_header``) and thumbnails ``label_img`` (N, C, H, W), written under
        ``<log_dir>/<step:05d>/<tag>`` and listed in ``<log_dir>/projector_config.pbtxt``."""
        from google.protobuf import text_format
        from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig

        from . import _embedding as E

        mat = make_np(mat, "add_embedding")
        if mat.ndim != 2:
            raise ValueError(f"add_embedding: mat must be 2-D (points, features), got shape {tuple(mat.shape)}")
        if metadata is not None and len(metadata) != mat.shape[0]:
            raise ValueError(f"add_embedding: {len(metadata)} metadata entries for {mat.shape[0]} points")
        if label_img is not None and (len(label_img.shape) != 4 or label_img.shape[0] != mat.shape[0]):
            raise ValueError(f"add_embedding: label_img must be (N, C, H, W) with N = {mat.shape[0]} points, got "
                             f"shape {tuple(label_img.shape)}")
        step = 0 if global_step is None else int(global_step)
        subdir = f"{str(step).zfill(5)}/{E.encode_tag(tag)}"
        logdir = self._get_file_writer().get_logdir()
        save_path = os.path.join(logdir, subdir)
        if os.path.isdir(save_path):
            print("warning: Embedding dir exists, did you set global_step for add_embedding()?")
        elif os.path.exists(save_path):
            raise NotADirectoryError(f"Path: `{save_path}` exists, but is a file. Cannot proceed.")
        else:
            os.makedirs(save_path)
        if metadata is not None:
            E.write_metadata(save_path, metadata, metadata_header)
        if label_img is not None:
            E.write_sprite(save_path, label_img)
        E.write_matrix(save_path, mat)
        if not hasattr(self, "_projector_config"):
            self._projector_config = ProjectorConfig()
        self._projector_config.embeddings.extend([E.embedding_info(metadata, label_img, subdir, step, tag)])
        with open(os.path.join(logdir, "projector_config.pbtxt"), "wb") as f:
            f.write(text_format.MessageToString(self._projector_config).encode("utf-8"))

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """Not available: torch builds the graph with its torch.jit tracer, which cnnkit does not have."""
        raise RuntimeError("SummaryWriter.add_graph is not supported by cnnkit (torch's version traces the "
                           "model with torch.jit); use cnnkit.utils.summary(model, input_size) for the layer table")

    def flush(self):
        """Writes every queued event of every (sub-)writer to disk."""
        if self.all_writers is None:
            return
        for w in self.all_writers.values():
            w.flush()

    def close(self):
        """Flushes and closes all event files; a later ``add_*`` opens a new one. Closing twice is fine."""
        if self.all_writers is None:
            return
        for w in self.all_writers.values():
            w.flush()
            w.close()
        self.file_writer = self.all_writers = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.close()
