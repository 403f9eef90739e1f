"""What runs inside a DataLoader worker (a process, or a thread in cnnkit's ``'thread'`` mode).

A worker takes ``(task_id, index)`` pairs from its own index queue, fetches and collates the batch
and puts ``(task_id, batch)`` on the result queue shared by all workers. ``None`` on the index queue
means "exit"; a ``_ResumeIteration`` (persistent workers) means "a new epoch starts": an
IterableDataset worker then restarts its iterator. Errors are sent back as an ``ExceptionWrapper``
holding the traceback text, re-raised by the main process; an exhausted IterableDataset answers
``_IterableDatasetStopIteration`` so the main process stops giving that worker tasks.
"""
import os
import queue
import random
import sys
import threading
import traceback
from dataclasses import dataclass

__all__ = ["WorkerInfo", "get_worker_info"]

# How often (seconds) an idle worker looks up from its index queue to check that the process that
# started it is still alive, and how often the main process checks its workers while it waits.
STATUS_CHECK_INTERVAL = 0.2

_process_worker_info = None          # set in a worker process (one worker per process)
_thread_worker_info = threading.local()  # set in each worker thread of 'thread' mode


@dataclass(frozen=True)
class WorkerInfo:
    """Describes the worker this code runs in: ``id`` (0 .. num_workers-1), ``num_workers``,
    ``seed`` (base_seed + id) and ``dataset`` (this worker's copy of the dataset)."""

    id: int
    num_workers: int
    seed: int
    dataset: object

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed}, dataset={self.dataset!r})"


def get_worker_info():
    """The ``WorkerInfo`` of the DataLoader worker calling it, or None in the main process.

    An IterableDataset uses it to shard its stream (each worker iterates its own copy), and
    ``worker_init_fn`` to configure each worker's dataset copy.
    """
    info = getattr(_thread_worker_info, "info", None)
    return info if info is not None else _process_worker_info


class ExceptionWrapper:
    """An exception caught in a worker, carried to the main process as its type and traceback text
    (tracebacks themselves do not pickle)."""

    def __init__(self, exc_info=None, where="in background"):
        if exc_info is None:
            exc_info = sys.exc_info()
        self.exc_type = exc_info[0]
        self.exc_msg = "".join(traceback.format_exception(*exc_info))
        self.where = where

    def reraise(self):
        """Raises an exception of the original type whose message holds the worker's traceback;
        a type that cannot be built from one message string becomes a RuntimeError."""
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)  # KeyError quotes its argument; keep the text readable
        elif getattr(self.exc_type, "message", None) is not None:
            raise self.exc_type(message=msg)
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        try:
            raise exc
        finally:
            del exc  # no frame <-> traceback cycle keeping the DataLoader iterator alive


class _KeyErrorMessage(str):
    def __repr__(self):
        return self


@dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


@dataclass(frozen=True)
class _ResumeIteration:
    pass


class _MapFetcher:
    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.getitems = getattr(dataset, "__getitems__", None) if auto_collation else None

    def fetch(self, index):
        if self.auto_collation:
            data = self.getitems(index) if callable(self.getitems) else [self.dataset[i] for i in index]
        else:
            data = self.dataset[index]
        return self.collate_fn(data)


class _IterableFetcher:
    """Batches a stream: ``index`` is only a count (a list of batch_size Nones, or None)."""

    def __init__(self, dataset, auto_collation, collate_fn, drop_last):
        self.iterator = iter(dataset)
        self.auto_collation, self.collate_fn, self.drop_last = auto_collation, collate_fn, drop_last
        self.ended = False

    def fetch(self, index):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.iterator))
        data = []
        for _ in index:
            try:
                data.append(next(self.iterator))
            except StopIteration:
                self.ended = True
                break
        if not data or (self.drop_last and len(data) < len(index)):
            raise StopIteration
        return self.collate_fn(data)


def make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last):
    cls = _IterableFetcher if is_iterable else _MapFetcher
    return cls(dataset, auto_collation, collate_fn, drop_last)


def _numpy_seed(base_seed, worker_id):
    """NumPy's global RNG seed for a worker: a SeedSequence hash of (worker_id, base_seed), so that it
    is unrelated to the ``random`` / cnnkit seeds and differs between workers."""
    import numpy as np

    words = [worker_id, base_seed & 0xFFFFFFFF, (base_seed >> 32) & 0xFFFFFFFF]
    return np.random.SeedSequence(words).generate_state(4)


def _parent_alive(parent_pid):
    return parent_pid is None or os.getppid() == parent_pid


def worker_loop(is_iterable, dataset, index_queue, result_queue, done_event, auto_collation, collate_fn,
                drop_last, base_seed, init_fn, worker_id, num_workers, persistent_workers, in_thread,
                parent_pid=None):
    """The body of one worker. In a process it first limits cnnkit to one OpenMP thread (libgomp's
    thread pool does not survive fork, and workers in parallel are the parallelism), then seeds
    ``random``, NumPy and cnnkit with ``base_seed + worker_id``. A thread shares the main process's
    RNGs and thread count, so it changes neither (``WorkerInfo.seed`` is still set)."""
    global _process_worker_info
    try:
        import cnnkit

        seed = base_seed + worker_id
        where = f"in DataLoader worker {'thread' if in_thread else 'process'} {worker_id}"
        if not in_thread:
            cnnkit.set_num_threads(1)
            from . import _shared

            _shared.install()  # large tensors of the results travel through shared memory
            random.seed(seed)
            cnnkit.manual_seed(seed)
            try:
                import numpy as np

                np.random.seed(_numpy_seed(base_seed, worker_id))
            except ImportError:  # pragma: no cover - NumPy is a hard dependency of cnnkit
                pass
        info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        if in_thread:
            _thread_worker_info.info = info
        else:
            _process_worker_info = info

        init_error = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
        except Exception:
            init_error = ExceptionWrapper(where=where)

        # After an IterableDataset ended (or init failed), this worker answers no further task of
        # the epoch; the main process stops sending it tasks once it has seen the first answer.
        iteration_end = False
        while _parent_alive(parent_pid):
            try:
                item = index_queue.get(timeout=STATUS_CHECK_INTERVAL)
            except queue.Empty:
                # Shutdown normally arrives as None, but the main process may be unable to send it
                # (an iterator collected as garbage has its queues' feeder threads finalised first).
                if done_event.is_set():
                    break
                continue
            if isinstance(item, _ResumeIteration):
                result_queue.put((item, None))
                iteration_end = False
                if is_iterable and init_error is None:
                    fetcher = make_fetcher(is_iterable, dataset, auto_collation, collate_fn, drop_last)
                continue
            if item is None:
                break
            if done_event.is_set() or iteration_end:
                continue  # shutting down, or nothing more to give this epoch: drain the queue
            task_id, index = item
            if init_error is not None:
                data, init_error = init_error, None
                iteration_end = True
            else:
                try:
                    data = fetcher.fetch(index)
                except StopIteration:
                    if not is_iterable:
                        data = ExceptionWrapper(where=where)
                    else:
                        data = _IterableDatasetStopIteration(worker_id)
                        iteration_end = True
                except Exception:
                    data = ExceptionWrapper(where=where)
            result_queue.put((task_id, data))
            del data, index, item  # let the batch go before blocking on the next task
    except KeyboardInterrupt:
        pass
    if done_event.is_set() and not in_thread:
        # The main process no longer reads results: don't block exit on flushing them.
        result_queue.cancel_join_thread()
        result_queue.close()
