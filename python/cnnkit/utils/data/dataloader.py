"""DataLoader: batches of a dataset, loaded in the main process or in parallel workers (torch's rules).

``num_workers=0`` loads in the calling process. ``num_workers > 0`` starts that many worker
processes (``multiprocessing_context``: the platform's default start method, ``'fork'``, ``'spawn'``,
``'forkserver'`` or a context object) or, as a cnnkit extension, threads
(``multiprocessing_context='thread'``: for datasets that do not pickle, or whose work releases the GIL).
The main process sends batch indices to the workers' own index queues in turn, keeping at most
``prefetch_factor`` batches in flight per worker, and reads results from one shared result queue,
handing them out in sampler order (``in_order=False``: as they arrive). See ``_worker.py`` for what
a worker does.
"""
import itertools
import multiprocessing
import os
import queue
import threading
import time
import warnings

from . import _worker
from ._collate import default_collate, default_convert
from ._pin_memory import pin_memory as _pin_memory
from .dataset import IterableDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler

__all__ = ["DataLoader", "default_collate", "default_convert", "get_worker_info"]

get_worker_info = _worker.get_worker_info

# Seconds the shutdown waits for workers to exit on their own before terminating them.
_SHUTDOWN_JOIN_TIMEOUT = 2.0
_FROZEN_ATTRS = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset", "persistent_workers")


class _InfiniteConstantSampler(Sampler):
    """Stands in for a sampler over an IterableDataset: yields None forever."""

    def __iter__(self):
        while True:
            yield None


def _resolve_context(ctx, num_workers):
    """Validates ``multiprocessing_context`` as torch does; ``'thread'`` is kept as the string."""
    if ctx is None:
        return None
    if num_workers == 0:
        raise ValueError("multiprocessing_context can only be used with multi-process loading (num_workers > 0), "
                         f"but got num_workers={num_workers}")
    if isinstance(ctx, str):
        if ctx == "thread":
            return ctx
        methods = multiprocessing.get_all_start_methods()
        if ctx not in methods:
            raise ValueError(f"multiprocessing_context option should specify a valid start method in {methods!r} "
                             f"(or 'thread', a cnnkit extension), but got multiprocessing_context={ctx!r}")
        ctx = multiprocessing.get_context(ctx)
    if not isinstance(ctx, multiprocessing.context.BaseContext):
        raise TypeError("multiprocessing_context option should be a valid context object or a string specifying "
                        f"the start method, but got multiprocessing_context={ctx}")
    return ctx


class DataLoader:
    """Iterates over a dataset in batches; PyTorch's constructor, checks, batching and worker rules."""

    _initialized = False

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, timeout=0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *, prefetch_factor=None,
                 persistent_workers=False, pin_memory_device="", in_order=True):
        if not isinstance(num_workers, int) or isinstance(num_workers, bool):
            raise TypeError(f"DataLoader: num_workers should be an int, but got {type(num_workers).__name__}")
        if num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing.let num_workers > 0 to "
                "enable multiprocessing, otherwise set prefetch_factor to None."
            )
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.dataset = dataset
        self.num_workers = num_workers
        self.prefetch_factor = prefetch_factor
        self.pin_memory = pin_memory
        self.pin_memory_device = pin_memory_device
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = _resolve_context(multiprocessing_context, num_workers)
        self.persistent_workers = persistent_workers
        self.in_order = in_order

        self._is_iterable = isinstance(dataset, IterableDataset)
        if self._is_iterable:
            if shuffle not in {False, None}:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, but got shuffle={shuffle}")
            if sampler is not None:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified sampler option, but got sampler={sampler}")
            if batch_sampler is not None:
                raise ValueError(
                    f"DataLoader with IterableDataset: expected unspecified batch_sampler option, but got batch_sampler={batch_sampler}"
                )
        else:
            shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, and drop_last"
                )
            batch_size = None
            drop_last = False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with drop_last"
            )
        if sampler is None:
            if self._is_iterable:
                sampler = _InfiniteConstantSampler()
            elif shuffle:
                sampler = RandomSampler(dataset, generator=generator)
            else:
                sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size = batch_size
        self.drop_last = drop_last
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._iterator = None
        self._initialized = True
        self._check_worker_number()

    def __setattr__(self, attr, val):
        if self._initialized and attr in _FROZEN_ATTRS:
            raise ValueError(f"{attr} attribute should not be set after {type(self).__name__} is initialized")
        super().__setattr__(attr, val)

    def _check_worker_number(self):
        """Warns (as torch does) when more workers are asked for than this process may use CPUs."""
        if self.num_workers <= 1 or self.multiprocessing_context == "thread":
            return
        try:
            cpus = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            cpus = os.cpu_count()
        if cpus is not None and self.num_workers > cpus:
            warnings.warn(f"This DataLoader will create {self.num_workers} worker processes in total, more than the "
                          f"{cpus} CPUs this process may use; excess workers slow loading down. Consider "
                          f"num_workers={cpus}.", stacklevel=3)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None

    @property
    def _index_sampler(self):
        return self.batch_sampler if self._auto_collation else self.sampler

    def __len__(self):
        if self._is_iterable:
            length = len(self.dataset)
            if self.batch_size is not None:
                length = length // self.batch_size if self.drop_last else -(-length // self.batch_size)
            return length
        return len(self._index_sampler)

    def _get_iterator(self):
        if self.num_workers == 0:
            return _SingleProcessIter(self)
        return _MultiWorkerIter(self)

    def __iter__(self):
        """A new iterator per epoch; with persistent workers one iterator (and its workers) is reset."""
        if self.persistent_workers and self.num_workers > 0:
            if self._iterator is None:
                self._iterator = self._get_iterator()
            else:
                self._iterator._reset(self)
            return self._iterator
        return self._get_iterator()


class _BaseIter:
    def __init__(self, loader):
        from ... import cuda, randint

        self._dataset = loader.dataset
        self._is_iterable = loader._is_iterable
        self._auto_collation = loader._auto_collation
        self._drop_last = loader.drop_last
        self._index_sampler = loader._index_sampler
        self._num_workers = loader.num_workers
        self._timeout = loader.timeout
        self._collate_fn = loader.collate_fn
        if loader.pin_memory and loader.pin_memory_device:
            warnings.warn("pin_memory_device is deprecated, the current accelerator will be used as the device,"
                          f"ignore pin_memory_device='{loader.pin_memory_device}'.", stacklevel=3)
        if loader.pin_memory and not cuda.is_available():
            warnings.warn("'pin_memory' argument is set as true but no accelerator is found, then device pinned "
                          "memory won't be used.", stacklevel=3)
        self._pin_memory = bool(loader.pin_memory) and cuda.is_available()
        self._sampler_iter = iter(self._index_sampler)
        # One draw from the loader's generator (or cnnkit's default one) per iterator, as torch:
        # worker w seeds its RNGs with base_seed + w, so cnnkit.manual_seed fixes the augmentations.
        self._base_seed = int(randint(0, 2**63 - 1, (), generator=loader.generator).item())
        self._num_yielded = 0

    def __iter__(self):
        return self

    def __len__(self):
        return len(self._index_sampler)

    def _reset(self, loader, first_iter=False):
        self._sampler_iter = iter(self._index_sampler)
        self._num_yielded = 0

    def _next_index(self):
        return next(self._sampler_iter)

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        return data

    def __getstate__(self):
        raise TypeError(f"{type(self).__name__} cannot be pickled")


class _SingleProcessIter(_BaseIter):
    """Loads each batch in the calling process, when it is asked for."""

    def __init__(self, loader):
        super().__init__(loader)
        if self._timeout != 0:
            raise ValueError(f"DataLoader: timeout={self._timeout} needs num_workers > 0 "
                             "(loading in the main process cannot time out)")
        self._fetcher = _worker.make_fetcher(self._is_iterable, self._dataset, self._auto_collation,
                                             self._collate_fn, self._drop_last)

    def _next_data(self):
        index = self._next_index()
        data = self._fetcher.fetch(index)
        return _pin_memory(data) if self._pin_memory else data


class _MultiWorkerIter(_BaseIter):
    """Loads in ``num_workers`` worker processes (or threads), ``prefetch_factor`` tasks ahead each.

    Bookkeeping: tasks get consecutive ids ``_send_idx``; ``_task_info[id]`` is ``(worker,)`` while
    outstanding and ``(worker, data)`` once a result arrived ahead of its turn; ``_rcvd_idx`` is the
    next id to hand out. Workers are sent tasks in turn, skipping those marked done
    (``_workers_status``: an IterableDataset copy that ended, or shutdown).
    """

    def __init__(self, loader):
        super().__init__(loader)
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        self._persistent = loader.persistent_workers
        self._shutdown = False
        ctx = loader.multiprocessing_context
        self._threaded = ctx == "thread"
        if self._threaded:
            make_queue, self._done_event = queue.Queue, threading.Event()
        else:
            ctx = ctx if ctx is not None else multiprocessing.get_context()
            make_queue, self._done_event = ctx.Queue, ctx.Event()
        self._result_queue = make_queue()
        self._index_queues, self._workers = [], []
        try:
            for wid in range(self._num_workers):
                index_queue = make_queue()
                args = (self._is_iterable, self._dataset, index_queue, self._result_queue, self._done_event,
                        self._auto_collation, self._collate_fn, self._drop_last, self._base_seed,
                        loader.worker_init_fn, wid, self._num_workers, self._persistent, self._threaded)
                if self._threaded:
                    w = threading.Thread(target=_worker.worker_loop, args=args, daemon=True,
                                         name=f"cnnkit_data_worker_{wid}")
                else:
                    index_queue.cancel_join_thread()  # never block the main process's exit on it
                    w = ctx.Process(target=_worker.worker_loop, args=args + (os.getpid(),), daemon=True)
                w.start()
                self._index_queues.append(index_queue)
                self._workers.append(w)
        except BaseException:
            self._shutdown_workers()
            raise
        self._reset(loader, first_iter=True)

    def _reset(self, loader, first_iter=False):
        super()._reset(loader, first_iter)
        self._send_idx = 0
        self._rcvd_idx = 0
        self._task_info = {}
        self._tasks_outstanding = 0
        self._workers_status = [True] * self._num_workers
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:
            # Persistent workers: each acknowledges the new epoch; results of an epoch that was
            # abandoned half way arrive before the acknowledgements and are dropped.
            for q in self._index_queues:
                q.put(_worker._ResumeIteration())
            pending = self._num_workers
            while pending > 0:
                task_id, _ = self._get_data()
                if isinstance(task_id, _worker._ResumeIteration):
                    pending -= 1
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    # ---- receiving ----------------------------------------------------------------------------
    def _try_get_data(self, timeout):
        """(True, item) from the result queue, or (False, None) after ``timeout`` seconds; raises
        RuntimeError when a worker that still had work died (killed, crashed)."""
        try:
            return True, self._result_queue.get(timeout=timeout)
        except queue.Empty:
            pass
        except (OSError, EOFError):
            if not self._failed_workers():
                raise
        failed = self._failed_workers()
        if failed:
            self._shutdown_workers()
            raise RuntimeError(self._failure_message(failed)) from None
        return False, None

    def _failed_workers(self):
        if self._threaded:
            return []
        return [w for wid, w in enumerate(self._workers) if self._workers_status[wid] and not w.is_alive()]

    @staticmethod
    def _failure_message(failed):
        import signal

        if len(failed) == 1:
            w = failed[0]
            code = w.exitcode
            if code is not None and code < 0:
                try:
                    how = f"killed by signal: {signal.Signals(-code).name}"
                except ValueError:
                    how = f"killed by signal {-code}"
            else:
                how = f"exit code {code}"
            return (f"DataLoader worker (pid {w.pid}) exited unexpectedly ({how}). A worker is killed when it "
                    "runs out of memory (see dmesg) or by a signal; a dataset that crashes the interpreter "
                    "shows it with num_workers=0.")
        pids = ", ".join(str(w.pid) for w in failed)
        return f"DataLoader worker (pid(s) {pids}) exited unexpectedly"

    def _get_data(self):
        """The next item of the result queue; waits in short slices so dead workers are noticed."""
        if self._timeout > 0:
            deadline = time.monotonic() + self._timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")
                ok, data = self._try_get_data(min(remaining, _worker.STATUS_CHECK_INTERVAL))
                if ok:
                    return data
        while True:
            ok, data = self._try_get_data(_worker.STATUS_CHECK_INTERVAL)
            if ok:
                return data

    def _next_data(self):
        while True:
            # Skip tasks whose worker stopped (its IterableDataset copy ended) without answering them.
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info is not None and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # arrived earlier, out of turn
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            task_id, data = self._get_data()
            self._tasks_outstanding -= 1
            if isinstance(data, _worker._IterableDatasetStopIteration):
                wid = data.worker_id
                self._workers_status[wid] = False
                if not self._persistent:
                    self._index_queues[wid].put(None)
                self._task_info.pop(task_id, None)
                # The worker skips its other queued tasks of this epoch: they are no longer in flight.
                dead = sum(1 for info in self._task_info.values() if len(info) == 1 and info[0] == wid)
                self._tasks_outstanding -= dead
                self._workers_num_tasks[wid] = 0
                self._try_put_index()
                continue
            if task_id == self._rcvd_idx:
                worker_id = self._task_info.pop(task_id)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            if not self._in_order:
                worker_id = self._task_info.pop(task_id)[0]
                return self._process_data(data, worker_id)
            self._task_info[task_id] += (data,)

    def _process_data(self, data, worker_id):
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, _worker.ExceptionWrapper):
            data.reraise()
        return _pin_memory(data) if self._pin_memory else data

    # ---- sending ------------------------------------------------------------------------------
    def _try_put_index(self):
        """Sends the next index of the sampler to the next active worker (with in_order=False: the
        next one below its share of the in-flight tasks, so a slow worker does not hoard them)."""
        max_tasks = self._prefetch_factor * self._num_workers
        if self._tasks_outstanding >= max_tasks:
            return
        active = sum(self._workers_status)
        if active == 0:
            return
        for _ in range(self._num_workers):
            wid = next(self._worker_cycle)
            if self._workers_status[wid] and (self._in_order or self._workers_num_tasks[wid] < max_tasks // active):
                break
        else:
            return
        try:
            index = self._next_index()
        except StopIteration:
            return
        self._index_queues[wid].put((self._send_idx, index))
        self._task_info[self._send_idx] = (wid,)
        self._workers_num_tasks[wid] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    # ---- shutdown -----------------------------------------------------------------------------
    def _shutdown_workers(self):
        """Asks every worker to exit, waits a little, then terminates the ones still running (a
        thread cannot be terminated: a stuck one is left to finish as a daemon)."""
        if self._shutdown:
            return
        self._shutdown = True
        workers = getattr(self, "_workers", [])
        try:
            self._done_event.set()
            for q in self._index_queues:
                q.put(None)
            deadline = time.monotonic() + _SHUTDOWN_JOIN_TIMEOUT
            for w in workers:
                w.join(timeout=max(0.0, deadline - time.monotonic()))
        finally:
            if not self._threaded:
                for w in workers:
                    if w.is_alive():
                        w.terminate()
                        w.join(timeout=1.0)
                for q in self._index_queues + [self._result_queue]:
                    q.cancel_join_thread()
                    q.close()
            self._workers_status = [False] * self._num_workers

    def __del__(self):
        try:
            self._shutdown_workers()
        except Exception:  # interpreter shutdown: modules may already be gone
            pass
