"""The ``tensorboard`` package, imported on first use: its event-file writer and protocol buffers.

tensorboard is the optional extra ``cnnkit[tensorboard]``; nothing here runs at ``import cnnkit``."""
from __future__ import annotations

import functools
import types

_EXTRA_MSG = "cnnkit.utils.tensorboard needs tensorboard: pip install 'cnnkit[tensorboard]'"


@functools.lru_cache(maxsize=None)
def tb():
    """A namespace of the tensorboard classes the writer uses (ImportError naming the extra if absent)."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError:
        raise ImportError(_EXTRA_MSG) from None
    return types.SimpleNamespace(
        Event=event_pb2.Event, SessionLog=event_pb2.SessionLog, Summary=summary_pb2.Summary,
        SummaryMetadata=summary_pb2.SummaryMetadata, HistogramProto=summary_pb2.HistogramProto,
        TensorProto=tensor_pb2.TensorProto, TensorShapeProto=tensor_shape_pb2.TensorShapeProto,
        EventFileWriter=EventFileWriter)


def shape_proto(shape):
    p = tb()
    return p.TensorShapeProto(dim=[p.TensorShapeProto.Dim(size=int(d)) for d in shape])
