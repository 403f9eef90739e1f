"""Sending large CPU tensors from worker processes to the main process through shared memory.

A Tensor pickles by value (its bytes go through a NumPy array into the pickle), so a batch crosses
the result queue's pipe in 64 KiB pieces and is copied twice more (into the pickle, out of it).
Inside a worker process, ``install()`` registers a reducer with multiprocessing's ForkingPickler
(the pickler of multiprocessing queues, and only in that process) that instead writes each large
tensor once into an anonymous shared-memory file (``memfd_create``) and sends its file descriptor
(multiprocessing's DupFd: over a Unix socket, fork or spawn alike). The main process maps the file,
copies the batch out once and closes it. Nothing has a name in /dev/shm, so an abandoned batch
cannot leak memory: the file is freed once the worker and the main process closed it.

Measured (benchmarks/bench_dataloader.py, a 1.5 MiB float32 batch through a multiprocessing queue):
see the benchmark's last line.
"""
import mmap
import os

import numpy as np

# Tensors smaller than this pickle by value: a descriptor round trip costs more than the copy.
SHARE_MIN_BYTES = 64 << 10


def _rebuild_shared(dup_fd, shape, dtype_str, requires_grad):
    """Copies the batch out of the worker's file (one memcpy) and closes it at once: a mapping kept
    alive by the tensor would hold a file descriptor per live batch (mmap keeps its own)."""
    from ... import from_numpy

    fd = dup_fd.detach()
    try:
        nbytes = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype_str).itemsize
        with mmap.mmap(fd, nbytes, mmap.MAP_SHARED, mmap.PROT_READ) as buf:
            view = np.frombuffer(buf, dtype=dtype_str).reshape(shape)
            arr = view.copy()
            del view  # the mapping cannot close while an array still points into it
    finally:
        os.close(fd)
    t = from_numpy(arr)
    t.requires_grad = requires_grad
    return t


def _reduce_tensor(t):
    from multiprocessing import reduction

    from ...tensor import Tensor

    nbytes = t.numel() * t.element_size()
    if t.is_cuda or t.dtype.name == "bfloat16" or nbytes < SHARE_MIN_BYTES:
        return Tensor.__reduce_ex__(t, 4)
    arr = np.asarray(t._t)
    fd = os.memfd_create("cnnkit_batch", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, nbytes)
        with mmap.mmap(fd, nbytes, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE) as buf:
            np.copyto(np.frombuffer(buf, dtype=arr.dtype).reshape(arr.shape), arr)
        dup = reduction.DupFd(fd)  # keeps its own duplicate until the receiver takes it
    finally:
        os.close(fd)
    return (_rebuild_shared, (dup, tuple(arr.shape), arr.dtype.str, t.requires_grad))


def install():
    """Makes this process's multiprocessing queues send large tensors through shared memory."""
    if not hasattr(os, "memfd_create"):
        return False
    from multiprocessing.reduction import ForkingPickler

    from ...tensor import Tensor

    ForkingPickler.register(Tensor, _reduce_tensor)
    return True
