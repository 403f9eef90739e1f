"""DataLoader with workers: processes (fork, spawn) and threads, ordering, prefetch, persistent workers,
timeouts, worker errors and deaths, seeds, get_worker_info, IterableDataset sharding, clean shutdown.

Every test runs under a SIGALRM guard (and loaders get ``timeout=``) so that a hang fails the test.
"""
import gc
import multiprocessing
import os
import pickle
import random
import signal
import sys
import threading
import time

import numpy as np
import pytest

import cnnkit
from cnnkit.utils.data import DataLoader, Dataset, IterableDataset, get_worker_info
from cnnkit.utils.data.dataloader import _MultiWorkerIter

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="fork/SIGKILL semantics are POSIX")

T = 30  # loader timeout (seconds) for tests that are not about timeouts


@pytest.fixture(autouse=True)
def alarm_guard():
    """Fails a test that takes over 60 s instead of blocking the suite."""
    def on_alarm(signum, frame):
        raise TimeoutError("test_dataloader: test took over 60 s (a DataLoader hang?)")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)
    gc.collect()
    assert multiprocessing.active_children() == [], "worker processes left behind"


def _np(t):
    return np.asarray(t.detach().numpy())


class Images(Dataset):
    """Deterministic (image, label, meta) samples: a float32 array, an int and a dict."""

    def __init__(self, n, shape=(3, 5, 4)):
        self.n, self.shape = n, shape

    def __getitem__(self, i):
        img = (np.arange(np.prod(self.shape), dtype=np.float32).reshape(self.shape) + 100 * i) / 7
        return img, i, {"sq": float(i * i), "name": f"s{i}"}

    def __len__(self):
        return self.n


class Pids(Dataset):
    def __getitem__(self, i):
        return i, os.getpid()

    def __len__(self):
        return 12


class Slow(Dataset):
    """Index ``slow`` takes ``delay`` seconds; the others are immediate."""

    def __init__(self, n, slow=0, delay=0.5):
        self.n, self.slow, self.delay = n, slow, delay

    def __getitem__(self, i):
        if i == self.slow:
            time.sleep(self.delay)
        return i

    def __len__(self):
        return self.n


class Failing(Dataset):
    def __init__(self, exc):
        self.exc = exc

    def __getitem__(self, i):
        if i == 3:
            raise self.exc
        return i

    def __len__(self):
        return 8


class Killing(Dataset):
    def __getitem__(self, i):
        if i == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return i

    def __len__(self):
        return 8


class InfoDataset(Dataset):
    def __getitem__(self, i):
        info = get_worker_info()
        return i, info.id, info.num_workers, info.seed, getattr(info.dataset, "tag", None)

    def __len__(self):
        return 8


class RandomDraws(Dataset):
    """Each sample draws from cnnkit's, Python's and NumPy's global RNGs (random augmentations)."""

    def __getitem__(self, i):
        return float(cnnkit.rand(()).item()), random.random(), float(np.random.rand())

    def __len__(self):
        return 8


class CnnkitOps(Dataset):
    """__getitem__ runs cnnkit kernels big enough to go parallel with more than one thread."""

    def __init__(self):
        rng = np.random.default_rng(0)
        self.a = rng.standard_normal((192, 160)).astype(np.float32)
        self.b = rng.standard_normal((160, 176)).astype(np.float32)
        self.x = rng.standard_normal((2, 3, 24, 24)).astype(np.float32)
        self.w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)

    def __getitem__(self, i):
        mm = cnnkit.from_numpy(self.a * (i + 1)) @ cnnkit.from_numpy(self.b)
        conv = cnnkit.nn.functional.conv2d(cnnkit.from_numpy(self.x), cnnkit.from_numpy(self.w), padding=1)
        return cnnkit.get_num_threads(), float(mm.sum().item()), float(conv.abs().sum().item())

    def __len__(self):
        return 4


def _values(loader):
    return [int(v) for b in loader for v in _np(b).reshape(-1)]


# ---------------------------------------------------------------------------------------------
# batches match the in-process loader and torch
# ---------------------------------------------------------------------------------------------
def _assert_same_batch(ours, ref):
    if hasattr(ref, "numpy"):
        assert isinstance(ours, cnnkit.Tensor)
        assert ours.dtype.name == str(ref.dtype).replace("torch.", "")
        np.testing.assert_array_equal(_np(ours), ref.numpy())
    elif isinstance(ref, dict):
        assert list(ours) == list(ref)
        for k in ref:
            _assert_same_batch(ours[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        assert len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _assert_same_batch(a, b)
    else:
        assert ours == ref


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batches_equal_torch_for_same_sampler_order(num_workers):
    torch = pytest.importorskip("torch")
    order = np.random.default_rng(1).permutation(23).tolist()
    kw = dict(batch_size=4, sampler=order, num_workers=num_workers, drop_last=False)
    if num_workers:
        kw["timeout"] = T
    ours = list(DataLoader(Images(23), **kw))
    ref = list(torch.utils.data.DataLoader(Images(23), **kw))
    assert len(ours) == len(ref) == 6
    for a, b in zip(ours, ref):
        _assert_same_batch(a, b)


def test_shuffle_with_workers_matches_single_process_for_same_seed():
    cnnkit.manual_seed(5)
    single = _values(DataLoader(Slow(30, slow=-1), batch_size=4, shuffle=True))
    cnnkit.manual_seed(5)
    multi = _values(DataLoader(Slow(30, slow=-1), batch_size=4, shuffle=True, num_workers=2, timeout=T))
    assert single == multi and sorted(multi) == list(range(30)) and multi != list(range(30))


def test_no_auto_batching_and_batch_sampler_with_workers():
    assert [int(v) for v in DataLoader(Slow(5, slow=-1), batch_size=None, num_workers=2, timeout=T)] == list(range(5))
    bs = [[4, 0], [2], [1, 3]]
    assert _values(DataLoader(Slow(5, slow=-1), batch_sampler=bs, num_workers=2, timeout=T)) == [4, 0, 2, 1, 3]


# ---------------------------------------------------------------------------------------------
# ordering and prefetch
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ctx", [None, "thread"])
def test_in_order_and_out_of_order(ctx):
    # Sample 0 is slow: in_order=True still yields 0 first, in_order=False yields the others first.
    ordered = _values(DataLoader(Slow(8, slow=0, delay=0.4), batch_size=1, num_workers=2, timeout=T,
                                 multiprocessing_context=ctx))
    assert ordered == list(range(8))
    unordered = _values(DataLoader(Slow(8, slow=0, delay=0.4), batch_size=1, num_workers=2, timeout=T,
                                   multiprocessing_context=ctx, in_order=False))
    assert sorted(unordered) == list(range(8)) and unordered[0] != 0 and unordered.index(0) >= 2


class Gated(Dataset):
    """Counts the fetches started and blocks each one until ``gate`` is set (thread mode only)."""

    def __init__(self):
        self.started = []
        self.gate = threading.Event()

    def __getitem__(self, i):
        self.started.append(i)
        self.gate.wait(20)
        return i

    def __len__(self):
        return 40


@pytest.mark.parametrize("workers,prefetch", [(2, 2), (3, 1), (1, 4)])
def test_prefetch_factor_bounds_tasks_in_flight(workers, prefetch):
    ds = Gated()
    it = iter(DataLoader(ds, batch_size=2, num_workers=workers, prefetch_factor=prefetch, timeout=T,
                         multiprocessing_context="thread"))
    assert it._tasks_outstanding == workers * prefetch
    assert sum(q.qsize() for q in it._index_queues) + len(ds.started) <= workers * prefetch
    time.sleep(0.2)
    assert len(ds.started) == workers  # each worker is busy with its first task
    ds.gate.set()
    first = next(it)
    assert _np(first).tolist() == [0, 1]
    assert it._tasks_outstanding <= workers * prefetch  # one consumed, one more sent
    assert _values(it) == list(range(2, 40))
    assert it._shutdown


def test_process_prefetch_default_is_two_per_worker():
    loader = DataLoader(Slow(40, slow=-1), batch_size=1, num_workers=2, timeout=T)
    assert loader.prefetch_factor == 2
    it = iter(loader)
    assert it._tasks_outstanding == 4 and it._send_idx == 4
    next(it)
    assert it._send_idx == 5
    del it


# ---------------------------------------------------------------------------------------------
# persistent workers, shutdown, no leaks
# ---------------------------------------------------------------------------------------------
def test_persistent_workers_are_reused_across_epochs():
    loader = DataLoader(Pids(), batch_size=2, num_workers=2, persistent_workers=True, timeout=T)
    epochs = [[(int(i), int(p)) for b in loader for i, p in zip(_np(b[0]), _np(b[1]))] for _ in range(3)]
    pids = [{p for _, p in e} for e in epochs]
    assert all(sorted(i for i, _ in e) == list(range(12)) for e in epochs)
    assert pids[0] == pids[1] == pids[2] and len(pids[0]) == 2 and os.getpid() not in pids[0]
    # An epoch abandoned half way: the next one still starts at the beginning and is complete.
    it = iter(loader)
    next(it)
    assert sorted(int(i) for b in loader for i in _np(b[0])) == list(range(12))
    assert len(multiprocessing.active_children()) == 2
    del loader, it
    gc.collect()
    assert multiprocessing.active_children() == []


def test_non_persistent_workers_are_new_each_epoch():
    loader = DataLoader(Pids(), batch_size=3, num_workers=2, timeout=T)
    first = {int(p) for b in loader for p in _np(b[1])}
    assert multiprocessing.active_children() == []  # an exhausted epoch shuts its workers down
    second = {int(p) for b in loader for p in _np(b[1])}
    assert first.isdisjoint(second)


def _open_fds():
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_shutdown_on_del_leaves_no_process_and_no_fd():
    def run_once(mode):
        loader = DataLoader(Slow(50, slow=-1), batch_size=2, num_workers=2, timeout=T)
        it = iter(loader)
        if mode == "full":
            list(it)
        else:
            next(it)  # abandoned mid-epoch: __del__ must stop the workers
        workers = list(it._workers)
        del it, loader
        gc.collect()
        return workers

    run_once("full")
    gc.collect()
    before = _open_fds()
    for mode in ("full", "partial", "partial"):
        workers = run_once(mode)
        assert multiprocessing.active_children() == []
        assert all(not w.is_alive() and w.exitcode is not None for w in workers)  # reaped, no zombies
        del workers  # a Process object holds its sentinel fd until it is freed
    gc.collect()
    assert _open_fds() <= before


def test_iterator_collected_in_a_reference_cycle_still_stops_its_workers_quickly():
    it = iter(DataLoader(Slow(100, slow=-1), batch_size=1, num_workers=2, timeout=T))
    next(it)
    it.cycle = it  # only the cyclic garbage collector can free it; its queues are finalised first
    workers = list(it._workers)
    del it
    start = time.monotonic()
    gc.collect()
    assert time.monotonic() - start < 1.5
    assert [w.exitcode for w in workers] == [0, 0]  # exited on their own, not terminated


class Big(Dataset):
    """Samples of 96 KiB: collated batches go from workers through shared memory (memfd)."""

    def __getitem__(self, i):
        return cnnkit.from_numpy(np.full((24, 32, 32), i, dtype=np.float32) + np.arange(32, dtype=np.float32))

    def __len__(self):
        return 10


@pytest.mark.skipif(not (hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd")), reason="needs memfd")
def test_large_tensors_come_back_through_shared_memory_without_leaks():
    from cnnkit.utils.data import _shared

    assert Big()[0].numel() * 4 >= _shared.SHARE_MIN_BYTES
    expected = [_np(b) for b in DataLoader(Big(), batch_size=3)]
    spawn = multiprocessing.get_context("spawn")
    list(DataLoader(Big(), batch_size=5, num_workers=1, timeout=60, multiprocessing_context=spawn))
    gc.collect()
    before = _open_fds()  # after spawn's one-time helpers (its resource tracker) are running
    for ctx in (None, spawn):
        batches = list(DataLoader(Big(), batch_size=3, num_workers=2, timeout=60, multiprocessing_context=ctx))
        assert len(batches) == len(expected)
        for b, e in zip(batches, expected):
            np.testing.assert_array_equal(_np(b), e)
        batches[0].add_(1.0)  # a mapped batch is an ordinary writable tensor
        assert float(batches[0][0, 0, 0, 0].item()) == 1.0
        del batches
    it = iter(DataLoader(Big(), batch_size=2, num_workers=2, timeout=T))
    next(it)  # abandoned with batches in flight: their files die with the workers
    del it
    gc.collect()
    assert _open_fds() <= before, sorted(os.readlink(f"/proc/self/fd/{f}") for f in os.listdir("/proc/self/fd")
                                         if os.path.exists(f"/proc/self/fd/{f}"))


def test_break_from_loop_and_thread_workers_exit():
    for ctx in (None, "thread"):
        loader = DataLoader(Slow(100, slow=-1), batch_size=1, num_workers=2, timeout=T, multiprocessing_context=ctx)
        it = iter(loader)
        for b in it:
            if int(b) == 3:
                break
        workers = list(it._workers)
        del it
        gc.collect()
        for w in workers:
            w.join(5)
            assert not w.is_alive()


# ---------------------------------------------------------------------------------------------
# timeouts, errors, dead workers
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ctx", [None, "thread"])
def test_timeout_raises_promptly(ctx):
    start = time.monotonic()
    loader = DataLoader(Slow(4, slow=0, delay=2.0), batch_size=1, num_workers=1, timeout=1,
                        multiprocessing_context=ctx)
    it = iter(loader)
    with pytest.raises(RuntimeError, match=r"^DataLoader timed out after 1 seconds$"):
        next(it)
    assert time.monotonic() - start < 3.5
    del it
    gc.collect()


@pytest.mark.parametrize("ctx", [None, "thread"])
def test_worker_exception_is_reraised_with_traceback(ctx):
    kind = "thread" if ctx == "thread" else "process"
    loader = DataLoader(Failing(ValueError("bad sample 3")), batch_size=1, num_workers=2, timeout=T,
                        multiprocessing_context=ctx)
    with pytest.raises(ValueError) as err:
        list(loader)
    msg = str(err.value)
    assert msg.startswith(f"Caught ValueError in DataLoader worker {kind} 1.\nOriginal Traceback (most recent call last):")
    assert "in __getitem__" in msg and "raise self.exc" in msg and msg.rstrip().endswith("ValueError: bad sample 3")
    with pytest.raises(KeyError) as err:
        list(DataLoader(Failing(KeyError("k3")), num_workers=1, timeout=T, multiprocessing_context=ctx))
    assert "Caught KeyError" in str(err.value) and "KeyError: 'k3'" in str(err.value)


class NeedsTwoArgs(Exception):
    def __init__(self, a, b):
        super().__init__(f"{a}/{b}")


def test_worker_exception_of_an_unbuildable_type_becomes_runtime_error():
    with pytest.raises(RuntimeError, match="Caught NeedsTwoArgs in DataLoader worker process 0") as err:
        list(DataLoader(Failing(NeedsTwoArgs(1, 2)), num_workers=1, timeout=T))
    assert "NeedsTwoArgs: 1/2" in str(err.value)


def test_worker_init_fn_error_is_reraised():
    def bad_init(worker_id):
        raise ValueError(f"init of {worker_id} failed")

    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0"):
        list(DataLoader(Slow(4, slow=-1), num_workers=1, worker_init_fn=bad_init, timeout=T))


def test_sigkilled_worker_gives_runtime_error_not_hang():
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly.*SIGKILL"):
        list(DataLoader(Killing(), batch_size=1, num_workers=2))  # no timeout: liveness checks alone
    assert time.monotonic() - start < 5
    # A worker killed from outside while the main process waits for it.
    loader = DataLoader(Slow(6, slow=3, delay=20), batch_size=1, num_workers=1)
    it = iter(loader)
    assert [int(next(it)) for _ in range(3)] == [0, 1, 2]
    pid = it._workers[0].pid
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match=rf"DataLoader worker \(pid {pid}\) exited unexpectedly"):
        next(it)
    del it
    gc.collect()


# ---------------------------------------------------------------------------------------------
# get_worker_info, worker_init_fn, seeds
# ---------------------------------------------------------------------------------------------
def _tag_dataset(worker_id):
    get_worker_info().dataset.tag = f"w{worker_id}"


@pytest.mark.parametrize("ctx", [None, "thread"])
def test_get_worker_info_and_worker_init_fn(ctx):
    assert get_worker_info() is None
    loader = DataLoader(InfoDataset(), batch_size=2, num_workers=2, worker_init_fn=_tag_dataset, timeout=T,
                        multiprocessing_context=ctx)
    it = iter(loader)
    base = it._base_seed
    rows = [(int(i), int(w), int(n), int(s), tag) for b in it for i, w, n, s, tag in zip(_np(b[0]), _np(b[1]),
                                                                                       _np(b[2]), _np(b[3]), b[4])]
    assert [r[0] for r in rows] == list(range(8))
    for i, w, n, s, tag in rows:
        assert w == (i // 2) % 2 and n == 2 and s == base + w
        # Worker processes have their own dataset copy; worker threads share the one dataset object.
        assert tag == f"w{w}" if ctx is None else tag in ("w0", "w1")
    assert get_worker_info() is None
    assert repr(get_worker_info) and "WorkerInfo(id=0, num_workers=2" in repr(
        cnnkit.utils.data.WorkerInfo(id=0, num_workers=2, seed=1, dataset=None))


def test_worker_rng_seeds_are_deterministic_and_differ_between_workers():
    def draws(**kw):
        loader = DataLoader(RandomDraws(), batch_size=1, num_workers=2, timeout=T, **kw)
        return [tuple(float(_np(v)[0]) for v in b) for b in loader]

    cnnkit.manual_seed(11)
    a = draws()
    cnnkit.manual_seed(11)
    b = draws()
    cnnkit.manual_seed(12)
    c = draws()
    assert a == b and a != c
    # Worker 0 serves samples 0, 2, 4, ...; worker 1 the odd ones: their streams differ per library.
    for lib in range(3):
        assert a[0][lib] != a[1][lib]
    g1, g2 = cnnkit.Generator().manual_seed(3), cnnkit.Generator().manual_seed(3)
    assert draws(generator=g1) == draws(generator=g2)


# ---------------------------------------------------------------------------------------------
# IterableDataset with workers
# ---------------------------------------------------------------------------------------------
class _ShardMixin:
    """range(n) split into contiguous shards, one per worker (torch's documented pattern)."""

    def _items(self):
        info = self.worker_info_fn()
        if info is None:
            return iter(range(self.n))
        per = -(-self.n // info.num_workers)
        return iter(range(info.id * per, min(self.n, (info.id + 1) * per)))


class Sharded(IterableDataset, _ShardMixin):
    def __init__(self, n):
        self.n, self.worker_info_fn = n, get_worker_info

    def __iter__(self):
        return self._items()


class Unsharded(IterableDataset):
    def __iter__(self):
        return iter(range(5))


@pytest.mark.filterwarnings("ignore:This DataLoader will create 3 worker processes")
@pytest.mark.parametrize("n,bs,drop_last,workers", [(13, 3, False, 2), (13, 3, True, 2), (7, 2, False, 3),
                                                    (4, 5, False, 2), (9, None, False, 2)])
def test_iterable_sharding_matches_torch(n, bs, drop_last, workers):
    torch = pytest.importorskip("torch")

    class TSharded(torch.utils.data.IterableDataset, _ShardMixin):
        def __init__(self, n):
            self.n, self.worker_info_fn = n, torch.utils.data.get_worker_info

        def __iter__(self):
            return self._items()

    kw = dict(batch_size=bs, drop_last=drop_last, num_workers=workers, timeout=T)
    ours = [_np(b).tolist() if isinstance(b, cnnkit.Tensor) else b for b in DataLoader(Sharded(n), **kw)]
    ref = [b.tolist() if isinstance(b, torch.Tensor) else b for b in torch.utils.data.DataLoader(TSharded(n), **kw)]
    assert ours == ref
    if not drop_last:
        flat = [v for b in ours for v in (b if isinstance(b, list) else [b])]
        assert sorted(flat) == list(range(n))


def test_iterable_without_sharding_is_replicated_per_worker_and_persistent_restarts():
    assert sorted(_values(DataLoader(Unsharded(), batch_size=2, num_workers=2, timeout=T))) == sorted(list(range(5)) * 2)
    loader = DataLoader(Sharded(10), batch_size=3, num_workers=2, persistent_workers=True, timeout=T)
    assert sorted(_values(loader)) == sorted(_values(loader)) == list(range(10))
    del loader


# ---------------------------------------------------------------------------------------------
# fork after OpenMP, thread mode, spawn
# ---------------------------------------------------------------------------------------------
def test_forked_workers_run_cnnkit_ops_after_parent_used_openmp():
    old = cnnkit.get_num_threads()
    try:
        cnnkit.set_num_threads(2)
        rng = np.random.default_rng(3)
        a = cnnkit.from_numpy(rng.standard_normal((384, 384)).astype(np.float32))
        (a @ a).sum().item()  # multi-threaded GEMM: libgomp's thread pool now exists in the parent
        cnnkit.nn.functional.conv2d(cnnkit.randn(4, 8, 32, 32), cnnkit.randn(16, 8, 3, 3)).sum().item()
        ds = CnnkitOps()
        expected = [row for row in (ds[i] for i in range(4))]
        loader = DataLoader(ds, batch_size=None, num_workers=2, timeout=T,
                            multiprocessing_context=multiprocessing.get_context("fork"))
        got = [(int(t), float(m), float(c)) for t, m, c in loader]
        assert [g[0] for g in got] == [1, 1, 1, 1]  # workers run with one OpenMP thread
        for (_, m, c), (_, em, ec) in zip(got, expected):
            assert m == pytest.approx(em, rel=1e-5) and c == pytest.approx(ec, rel=1e-5)
        assert cnnkit.get_num_threads() == 2  # the parent's setting is untouched
    finally:
        cnnkit.set_num_threads(old)


class Unpicklable(Dataset):
    def __init__(self):
        self.f = lambda i: i * 3

    def __getitem__(self, i):
        return self.f(i)

    def __len__(self):
        return 10


def test_thread_mode_loads_an_unpicklable_dataset():
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        pickle.dumps(Unpicklable())
    loader = DataLoader(Unpicklable(), batch_size=3, num_workers=2, multiprocessing_context="thread", timeout=T)
    assert [_np(b).tolist() for b in loader] == [[0, 3, 6], [9, 12, 15], [18, 21, 24], [27]]
    assert threading.active_count() < 10


def test_spawn_context_with_a_picklable_dataset():
    ctx = multiprocessing.get_context("spawn")
    loader = DataLoader(Images(9), batch_size=4, num_workers=1, multiprocessing_context=ctx, timeout=60,
                        worker_init_fn=_tag_dataset)
    batches = list(loader)
    refs = list(DataLoader(Images(9), batch_size=4))
    assert len(batches) == len(refs) == 3
    for ours, ref in zip(batches, refs):
        assert ours[0].dtype == cnnkit.float32
        np.testing.assert_array_equal(_np(ours[0]), _np(ref[0]))
        assert _np(ours[1]).tolist() == _np(ref[1]).tolist() and ours[2]["name"] == ref[2]["name"]
        np.testing.assert_array_equal(_np(ours[2]["sq"]), _np(ref[2]["sq"]))


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def test_worker_options_validated_like_torch():
    torch = pytest.importorskip("torch")
    TDL = torch.utils.data.DataLoader
    for kwargs in (dict(num_workers=1, prefetch_factor=-1), dict(multiprocessing_context="fork"),
                   dict(batch_size=2, num_workers=0, prefetch_factor=2)):
        with pytest.raises(ValueError) as ref_err:
            TDL(Slow(4), **kwargs)
        with pytest.raises(ValueError) as our_err:
            DataLoader(Slow(4), **kwargs)
        assert str(our_err.value) == str(ref_err.value), kwargs
    with pytest.raises(ValueError, match="should specify a valid start method in .* but got multiprocessing_context='bogus'"):
        DataLoader(Slow(4), num_workers=1, multiprocessing_context="bogus")
    with pytest.raises(TypeError, match="multiprocessing_context option should be a valid context object"):
        DataLoader(Slow(4), num_workers=1, multiprocessing_context=3)
    with pytest.raises(TypeError, match="num_workers should be an int"):
        DataLoader(Slow(4), num_workers=1.5)
    with pytest.raises(ValueError, match="timeout=2 needs num_workers > 0"):
        iter(DataLoader(Slow(4), timeout=2))
    loader = DataLoader(Slow(4), batch_size=2)
    for attr in ("batch_size", "sampler", "dataset", "drop_last", "batch_sampler", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"):
            setattr(loader, attr, None)
    loader.num_workers = 0  # not frozen, as in torch
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(iter(loader))
    assert isinstance(iter(DataLoader(Slow(4), num_workers=1, timeout=T)), _MultiWorkerIter)
