"""Builders of TensorBoard ``Summary`` protocol buffers, one per kind of data (the functions of
torch.utils.tensorboard.summary): scalar, tensor, histogram, image, text, hparams, custom scalars,
audio and PR curves. Values arrive as cnnkit/torch tensors, NumPy arrays or numbers."""
from __future__ import annotations

import io

import numpy as np

from ._convert import convert_to_HWC, make_np
from ._proto import shape_proto, tb

__all__ = ["scalar", "tensor_proto", "histogram", "histogram_raw", "make_histogram", "image", "image_boxes",
           "make_image", "text", "hparams", "custom_scalars", "audio", "pr_curve", "pr_curve_raw",
           "compute_curve"]


def _plugin_metadata(name, content=b""):
    p = tb()
    return p.SummaryMetadata(plugin_data=p.SummaryMetadata.PluginData(plugin_name=name, content=content))


def scalar(name, tensor, collections=None, new_style=False, double_precision=False):
    """One scalar: ``simple_value`` (classic), or with ``new_style`` a float (double) tensor of the
    'scalars' plugin. ``tensor`` must hold exactly one number."""
    arr = make_np(tensor, "add_scalar").squeeze()
    if arr.ndim != 0:
        raise ValueError(f"add_scalar: the value must hold one element, got {arr.size} elements "
                         f"(shape {tuple(make_np(tensor).shape)})")
    try:
        value = float(arr)
    except (TypeError, ValueError):
        raise TypeError(f"add_scalar: the value must be a real number, got {arr.dtype}") from None
    p = tb()
    if not new_style:
        return p.Summary(value=[p.Summary.Value(tag=name, simple_value=value)])
    if double_precision:
        tp = p.TensorProto(double_val=[value], dtype="DT_DOUBLE")
    else:
        tp = p.TensorProto(float_val=[value], dtype="DT_FLOAT")
    return p.Summary(value=[p.Summary.Value(tag=name, tensor=tp, metadata=_plugin_metadata("scalars"))])


def _tensor_fields(t):
    """(TF dtype name, TensorProto field, flat values, shape) of a tensor or array."""
    name = str(getattr(t, "dtype", "")).replace("cnnkit.", "").replace("torch.", "")
    if name == "bfloat16" and hasattr(t, "float"):
        f32 = np.asarray(t.detach().cpu().float().numpy(), dtype=np.float32)
        bits = (f32.view(np.uint32) >> 16).astype(np.int64)  # bfloat16 -> float32 is exact
        return "DT_BFLOAT16", "half_val", bits.reshape(-1).tolist(), f32.shape
    if name in ("float16", "half") and hasattr(t, "float"):
        t = np.asarray(t.detach().cpu().float().numpy()).astype(np.float16)
    arr = make_np(t, "add_tensor")
    kinds = {"float32": ("DT_FLOAT", "float_val"), "float64": ("DT_DOUBLE", "double_val"),
             "int8": ("DT_INT8", "int_val"), "int16": ("DT_INT16", "int_val"), "int32": ("DT_INT32", "int_val"),
             "int64": ("DT_INT64", "int64_val"), "uint8": ("DT_UINT8", "uint32_val"), "bool": ("DT_BOOL", "bool_val")}
    if arr.dtype == np.float16:  # TensorFlow keeps each half's 16 bits in an int32 half_val
        return "DT_HALF", "half_val", arr.view(np.uint16).astype(np.int64).reshape(-1).tolist(), arr.shape
    if arr.dtype.name not in kinds:
        raise ValueError(f"add_tensor: unsupported tensor dtype {arr.dtype}")
    dt, field = kinds[arr.dtype.name]
    return dt, field, arr.reshape(-1).tolist(), arr.shape


def tensor_proto(tag, tensor):
    """A whole tensor (of the 'tensor' plugin), dtype and shape kept."""
    arr = make_np(tensor, "add_tensor")
    if arr.nbytes >= (1 << 31):
        raise ValueError("add_tensor: the tensor is bigger than the 2 GB protocol-buffer limit")
    dt, field, values, shape = _tensor_fields(tensor)
    p = tb()
    tp = p.TensorProto(dtype=dt, tensor_shape=shape_proto(shape), **{field: values})
    return p.Summary(value=[p.Summary.Value(tag=tag, metadata=_plugin_metadata("tensor"), tensor=tp)])


def histogram_raw(name, min, max, num, sum, sum_squares, bucket_limits, bucket_counts):  # noqa: A002
    """A histogram from precomputed statistics; ``bucket_limits`` are the buckets' right edges."""
    p = tb()
    hist = p.HistogramProto(min=float(min), max=float(max), num=float(num), sum=float(sum),
                            sum_squares=float(sum_squares), bucket_limit=[float(v) for v in bucket_limits],
                            bucket=[float(v) for v in bucket_counts])
    return p.Summary(value=[p.Summary.Value(tag=name, histo=hist)])


def make_histogram(values, bins, max_bins=None):
    """A HistogramProto of ``values`` binned with ``np.histogram(values, bins)``, as TensorBoard's
    histogram.cc stores it: only the range from the first to the last non-empty bucket, each bucket
    named by its right edge, plus one empty bucket on the left so the left edge is kept too.
    ``max_bins`` merges neighbouring buckets until at most that many remain."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        raise ValueError("add_histogram: the input has no element")
    if not np.all(np.isfinite(values)):
        raise ValueError("add_histogram: the values must be finite (got NaN or inf)")
    counts, edges = np.histogram(values, bins=bins)
    if max_bins is not None and len(counts) > max_bins:
        group = len(counts) // int(max_bins)
        pad = (-len(counts)) % group
        counts = np.pad(counts, (0, pad)).reshape(-1, group).sum(1)
        edges = np.concatenate([edges[:-1:group], edges[-1:]])
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        raise ValueError("add_histogram: no value falls inside the bins")
    first, last = int(nonzero[0]), int(nonzero[-1])
    if first > 0:
        counts, limits = counts[first - 1:last + 1], edges[first:last + 2]
    else:
        counts, limits = np.concatenate([[0], counts[:last + 1]]), edges[:last + 2]
    p = tb()
    return p.HistogramProto(min=values.min(), max=values.max(), num=len(values), sum=values.sum(),
                            sum_squares=values.dot(values), bucket_limit=limits.tolist(),
                            bucket=counts.tolist())


def histogram(name, values, bins, max_bins=None):
    """A histogram of ``values`` (any shape): ``bins`` is what ``np.histogram`` takes."""
    p = tb()
    hist = make_histogram(make_np(values, "add_histogram").astype(float), bins, max_bins)
    return p.Summary(value=[p.Summary.Value(tag=name, histo=hist)])


def _to_uint8(hwc):
    """uint8 images stay as they are; any other dtype is taken as [0, 1] and scaled by 255, clipped
    and truncated (torch's writer's rule, so the same pixels come out)."""
    scale = 1 if hwc.dtype == np.uint8 else 255
    return (hwc.astype(np.float32) * scale).clip(0, 255).astype(np.uint8)


def make_image(tensor, rescale=1, rois=None, labels=None):
    """A PNG-encoded Summary.Image of an (H, W, C) uint8 array, C in (3, 4); boxes drawn when given."""
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("SummaryWriter images need Pillow: pip install 'cnnkit[vision]'") from None
    height, width, channels = tensor.shape
    img = Image.fromarray(np.ascontiguousarray(tensor))
    if rois is not None:
        img = _draw_boxes(img, rois, labels)
    if rescale != 1:
        img = img.resize((int(width * rescale), int(height * rescale)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return tb().Summary.Image(height=height, width=width, colorspace=channels,
                              encoded_image_string=buf.getvalue())


def image(tag, tensor, rescale=1, dataformats="NCHW"):
    """An image (or a tiled batch) from a tensor/array laid out as ``dataformats``: float values in
    [0, 1] or uint8 in [0, 255]."""
    hwc = convert_to_HWC(make_np(tensor, "add_image"), dataformats)
    p = tb()
    return p.Summary(value=[p.Summary.Value(tag=tag, image=make_image(_to_uint8(hwc), rescale=rescale))])


def _draw_boxes(img, boxes, labels):
    from PIL import ImageDraw, ImageFont

    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for k, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, dtype=np.float64).reshape(-1, 4)):
        draw.line([(x0, y0), (x0, y1), (x1, y1), (x1, y0), (x0, y0)], width=2, fill="red")
        if labels is not None:
            left, top, right, bottom = font.getbbox(labels[k])
            tw, th = right - left, bottom - top
            margin = int(np.ceil(0.05 * th))
            draw.rectangle([(x0, y1 - th - 2 * margin), (x0 + tw, y1)], fill="red")
            draw.text((x0 + margin, y1 - th - margin), labels[k], fill="black", font=font)
    return img


def image_boxes(tag, tensor_image, tensor_boxes, rescale=1, dataformats="CHW", labels=None):
    """An image with red boxes (rows x_min, y_min, x_max, y_max in pixels) and optional labels."""
    hwc = convert_to_HWC(make_np(tensor_image, "add_image_with_boxes"), dataformats)
    boxes = make_np(tensor_boxes, "add_image_with_boxes")
    if boxes.size % 4 != 0 or (boxes.ndim == 2 and boxes.shape[1] != 4):
        raise ValueError(f"add_image_with_boxes: boxes must be (N, 4), got shape {tuple(boxes.shape)}")
    p = tb()
    img = make_image(_to_uint8(hwc), rescale=rescale, rois=boxes, labels=labels)
    return p.Summary(value=[p.Summary.Value(tag=tag, image=img)])


def text(tag, text):
    """A string for the text plugin (markdown), stored under '<tag>/text_summary'."""
    if not isinstance(text, str):
        raise TypeError(f"add_text: text_string must be a str, got {type(text).__name__}")
    from tensorboard.plugins.text.plugin_data_pb2 import TextPluginData

    p = tb()
    tp = p.TensorProto(dtype="DT_STRING", string_val=[text.encode("utf_8")], tensor_shape=shape_proto([1]))
    smd = _plugin_metadata("text", TextPluginData(version=0).SerializeToString())
    return p.Summary(value=[p.Summary.Value(tag=tag + "/text_summary", metadata=smd, tensor=tp)])


def hparams(hparam_dict=None, metric_dict=None, hparam_domain_discrete=None):
    """The three summaries of the hparams plugin: (experiment, session start info, session end info)."""
    tb()
    from google.protobuf import struct_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    if not isinstance(hparam_dict, dict) or not isinstance(metric_dict, dict):
        raise TypeError("add_hparams: hparam_dict and metric_dict must be dicts")
    domains = hparam_domain_discrete or {}
    if not isinstance(domains, dict):
        raise TypeError("add_hparams: hparam_domain_discrete must be a dict of name -> list of values")
    for k, v in domains.items():
        if k not in hparam_dict or not isinstance(v, list) or not all(isinstance(d, type(hparam_dict[k])) for d in v):
            raise TypeError(f"add_hparams: hparam_domain_discrete[{k!r}] must be a list of values of the same "
                            f"type as hparam_dict[{k!r}]")
    start = plugin_data_pb2.SessionStartInfo()
    infos = []
    for k, v in hparam_dict.items():
        if v is None:
            continue
        if hasattr(v, "detach"):
            v = float(make_np(v).reshape(-1)[0])
        if isinstance(v, bool):
            start.hparams[k].bool_value, kind, field = v, "DATA_TYPE_BOOL", "bool_value"
        elif isinstance(v, (int, float, np.integer, np.floating)):
            start.hparams[k].number_value, kind, field = float(v), "DATA_TYPE_FLOAT64", "number_value"
        elif isinstance(v, str):
            start.hparams[k].string_value, kind, field = v, "DATA_TYPE_STRING", "string_value"
        else:
            raise ValueError(f"add_hparams: hparam {k!r} must be an int, float, str, bool or one-element tensor, "
                             f"got {type(v).__name__}")
        domain = None
        if k in domains:
            domain = struct_pb2.ListValue(values=[struct_pb2.Value(**{field: d}) for d in domains[k]])
        infos.append(api_pb2.HParamInfo(name=k, type=api_pb2.DataType.Value(kind), domain_discrete=domain))

    def wrap(tag, **content):
        data = plugin_data_pb2.HParamsPluginData(version=metadata.PLUGIN_DATA_VERSION, **content)
        smd = _plugin_metadata(metadata.PLUGIN_NAME, data.SerializeToString())
        return tb().Summary(value=[tb().Summary.Value(tag=tag, metadata=smd)])

    exp = api_pb2.Experiment(hparam_infos=infos,
                             metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag=k)) for k in metric_dict])
    end = plugin_data_pb2.SessionEndInfo(status=api_pb2.Status.Value("STATUS_SUCCESS"))
    return (wrap(metadata.EXPERIMENT_TAG, experiment=exp),
            wrap(metadata.SESSION_START_INFO_TAG, session_start_info=start),
            wrap(metadata.SESSION_END_INFO_TAG, session_end_info=end))


def custom_scalars(layout):
    """The custom-scalars plugin's layout: {category: {chart: ['Multiline'|'Margin', [tags]]}}."""
    tb()
    from tensorboard.plugins.custom_scalar import layout_pb2

    if not isinstance(layout, dict):
        raise TypeError(f"add_custom_scalars: layout must be a dict, got {type(layout).__name__}")
    categories = []
    for cat, charts in layout.items():
        items = []
        for title, (kind, tags) in charts.items():
            if kind == "Margin":
                if len(tags) != 3:
                    raise ValueError(f"add_custom_scalars: a Margin chart needs 3 tags (value, lower, upper), "
                                     f"got {len(tags)}")
                series = layout_pb2.MarginChartContent.Series(value=tags[0], lower=tags[1], upper=tags[2])
                items.append(layout_pb2.Chart(title=title, margin=layout_pb2.MarginChartContent(series=[series])))
            elif kind == "Multiline":
                items.append(layout_pb2.Chart(title=title, multiline=layout_pb2.MultilineChartContent(tag=tags)))
            else:
                raise ValueError(f"add_custom_scalars: chart type must be 'Multiline' or 'Margin', got {kind!r}")
        categories.append(layout_pb2.Category(title=cat, chart=items))
    p = tb()
    tp = p.TensorProto(dtype="DT_STRING", string_val=[layout_pb2.Layout(category=categories).SerializeToString()],
                       tensor_shape=shape_proto([]))
    return p.Summary(value=[p.Summary.Value(tag="custom_scalars__config__", tensor=tp,
                                            metadata=_plugin_metadata("custom_scalars"))])


def audio(tag, tensor, sample_rate=44100):
    """Mono 16-bit WAV audio from samples in [-1, 1] (clipped), shape (L,) or (1, L)."""
    import wave

    arr = make_np(tensor, "add_audio").squeeze().astype(np.float64)
    if arr.ndim != 1:
        raise ValueError(f"add_audio: expected one channel of samples (L,) or (1, L), got shape {arr.shape}")
    pcm = (arr.clip(-1, 1) * np.iinfo(np.int16).max).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    p = tb()
    snd = p.Summary.Audio(sample_rate=sample_rate, num_channels=1, length_frames=pcm.shape[-1],
                          encoded_audio_string=buf.getvalue(), content_type="audio/wav")
    return p.Summary(value=[p.Summary.Value(tag=tag, audio=snd)])


def compute_curve(labels, predictions, num_thresholds=None, weights=None):
    """The PR-curve table (6, num_thresholds): TP, FP, TN, FN counts, precision and recall when
    predicting positive at a score >= each of ``num_thresholds`` evenly spaced thresholds in [0, 1]
    (TensorBoard's pr_curve algorithm: bucket scores, then reverse cumulative sums)."""
    labels = np.asarray(labels, dtype=np.float64).reshape(-1)
    predictions = np.asarray(predictions, dtype=np.float64).reshape(-1)
    w = 1.0 if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    bucket = np.floor(predictions * (num_thresholds - 1)).astype(np.int32)
    rng = (0, num_thresholds - 1)
    tp_b, _ = np.histogram(bucket, bins=num_thresholds, range=rng, weights=labels * w)
    fp_b, _ = np.histogram(bucket, bins=num_thresholds, range=rng, weights=(1.0 - labels) * w)
    tp = np.cumsum(tp_b[::-1])[::-1]
    fp = np.cumsum(fp_b[::-1])[::-1]
    tn, fn = fp[0] - fp, tp[0] - tp
    precision = tp / np.maximum(1e-7, tp + fp)
    recall = tp / np.maximum(1e-7, tp + fn)
    return np.stack((tp, fp, tn, fn, precision, recall))


def _pr_summary(tag, data, num_thresholds):
    from tensorboard.plugins.pr_curve.plugin_data_pb2 import PrCurvePluginData

    p = tb()
    smd = _plugin_metadata("pr_curves", PrCurvePluginData(version=0, num_thresholds=num_thresholds).SerializeToString())
    tp = p.TensorProto(dtype="DT_FLOAT", float_val=data.reshape(-1).tolist(), tensor_shape=shape_proto(data.shape))
    return p.Summary(value=[p.Summary.Value(tag=tag, metadata=smd, tensor=tp)])


def pr_curve(tag, labels, predictions, num_thresholds=127, weights=None):
    """A precision-recall curve of binary ``labels`` against scores ``predictions`` in [0, 1]."""
    num_thresholds = min(int(num_thresholds), 127)  # as torch: the plugin's proto caps it
    labels, predictions = make_np(labels, "add_pr_curve"), make_np(predictions, "add_pr_curve")
    if labels.size != predictions.size:
        raise ValueError(f"add_pr_curve: {labels.size} labels for {predictions.size} predictions")
    if weights is not None:
        weights = make_np(weights, "add_pr_curve")
    return _pr_summary(tag, compute_curve(labels, predictions, num_thresholds, weights), num_thresholds)


def pr_curve_raw(tag, tp, fp, tn, fn, precision, recall, num_thresholds=127, weights=None):
    """A precision-recall curve from precomputed per-threshold counts, precision and recall."""
    num_thresholds = min(int(num_thresholds), 127)
    data = np.stack([make_np(v, "add_pr_curve_raw").astype(np.float64).reshape(-1)
                     for v in (tp, fp, tn, fn, precision, recall)])
    return _pr_summary(tag, data, num_thresholds)
