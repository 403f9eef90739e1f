"""Samplers' distributions, StackDataset / ChainDataset / Subset / random_split, default_collate extras,
pin_memory (CPU-only behaviour here; the pinned CUDA path and non_blocking copies skip without a GPU)."""
import collections
import gc
import warnings

import numpy as np
import pytest

import cnnkit
from cnnkit.utils.data import (
    BatchSampler,
    ChainDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    StackDataset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    random_split,
)
from cnnkit.utils.data._pin_memory import pin_memory as pin_batch

cuda = pytest.mark.skipif(not cnnkit.cuda.is_available(), reason="needs a CUDA GPU")


def _torch():
    return pytest.importorskip("torch")


def _np(t):
    return np.asarray(t.detach().numpy())


def _chi2_ok(counts, probs, n):
    """Pearson's statistic below a generous bound (p ~ 1e-6 for these degrees of freedom)."""
    probs = np.asarray(probs, dtype=np.float64)
    keep = probs > 0
    expected = n * probs[keep]
    stat = float((((counts[keep] - expected) ** 2) / expected).sum())
    return stat < 20 + 4 * keep.sum()


# ---------------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------------
def test_weighted_random_sampler_with_replacement_follows_weights():
    weights = [0.5, 2.0, 0.0, 1.0, 4.5]
    n = 20000
    s = WeightedRandomSampler(weights, n, generator=cnnkit.Generator().manual_seed(0))
    draws = np.array(list(s))
    assert len(s) == n and draws.shape == (n,) and set(draws.tolist()) <= {0, 1, 3, 4}  # weight 0 never drawn
    counts = np.bincount(draws, minlength=5)
    assert _chi2_ok(counts, np.array(weights) / sum(weights), n)
    assert s.weights.dtype == cnnkit.float64 and s.replacement is True
    again = list(WeightedRandomSampler(weights, 50, generator=cnnkit.Generator().manual_seed(0)))
    assert again == draws[:50].tolist() or len(set(again)) > 1  # seeded: reproducible stream below
    g1, g2 = cnnkit.Generator().manual_seed(9), cnnkit.Generator().manual_seed(9)
    assert list(WeightedRandomSampler(weights, 40, generator=g1)) == list(WeightedRandomSampler(weights, 40, generator=g2))


def test_weighted_random_sampler_without_replacement():
    weights = cnnkit.tensor([1.0, 1.0, 10.0, 0.0, 3.0])
    firsts = []
    for seed in range(300):
        d = list(WeightedRandomSampler(weights, 4, replacement=False, generator=cnnkit.Generator().manual_seed(seed)))
        assert sorted(d) == [0, 1, 2, 4]  # every non-zero weight exactly once
        firsts.append(d[0])
    # The heaviest index comes first most often (p = 10/15).
    assert 0.55 < firsts.count(2) / 300 < 0.78
    with pytest.raises(RuntimeError, match="cannot draw 5 samples without replacement from 4 non-zero weights"):
        WeightedRandomSampler(weights, 5, replacement=False)


def test_weighted_random_sampler_errors_like_torch():
    torch = _torch()
    for args in (([1.0, 2.0], 0), ([1.0, 2.0], -3), ([1.0, 2.0], True), ([1.0, 2.0], 2.0),
                 ([[1.0, 2.0]], 2), ([1.0, 2.0], 2, 1)):
        with pytest.raises(ValueError) as ref_err:
            torch.utils.data.WeightedRandomSampler(*args)
        with pytest.raises(ValueError) as our_err:
            WeightedRandomSampler(*args)
        assert str(our_err.value) == str(ref_err.value), args
    with pytest.raises(RuntimeError, match="weights must be finite, non-negative and not all zero"):
        WeightedRandomSampler([1.0, -1.0], 3)
    with pytest.raises(RuntimeError, match="weights must be finite"):
        WeightedRandomSampler([0.0, 0.0], 3)


def test_random_sampler_is_uniform_and_seeded():
    n, reps = 6, 3000
    first = np.zeros(n)
    g = cnnkit.Generator().manual_seed(1)
    for _ in range(reps):
        first[list(RandomSampler(range(n), generator=g))[0]] += 1
    assert _chi2_ok(first, np.full(n, 1 / n), reps)
    draws = np.array(list(RandomSampler(range(n), replacement=True, num_samples=12000, generator=g)))
    assert _chi2_ok(np.bincount(draws, minlength=n), np.full(n, 1 / n), 12000)
    cnnkit.manual_seed(4)
    a = list(RandomSampler(range(50)))
    cnnkit.manual_seed(4)
    b = list(RandomSampler(range(50)))
    assert a == b and sorted(a) == list(range(50))


def test_subset_random_sampler_and_batch_sampler_over_it():
    idx = [3, 8, 13, 21, 34]
    seen = collections.Counter()
    g = cnnkit.Generator().manual_seed(2)
    for _ in range(500):
        order = list(SubsetRandomSampler(idx, generator=g))
        assert sorted(order) == idx
        seen[order[0]] += 1
    assert _chi2_ok(np.array([seen[i] for i in idx], dtype=float), np.full(5, 0.2), 500)
    batches = list(BatchSampler(SubsetRandomSampler(idx, generator=g), 2, drop_last=False))
    assert [len(b) for b in batches] == [2, 2, 1] and sorted(sum(batches, [])) == idx
    loader = DataLoader(list(range(40)), sampler=SubsetRandomSampler(idx), batch_size=2)
    assert sorted(int(v) for b in loader for v in _np(b)) == idx


def test_weighted_sampler_in_a_dataloader_with_workers():
    loader = DataLoader(list(range(4)), batch_size=8, num_workers=2, timeout=30,
                        sampler=WeightedRandomSampler([0, 1, 0, 3], 64, generator=cnnkit.Generator().manual_seed(5)))
    values = [int(v) for b in loader for v in _np(b)]
    assert len(values) == 64 and set(values) <= {1, 3} and values.count(3) > values.count(1)


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------
class Items(Dataset):
    def __init__(self, n, k):
        self.n, self.k = n, k

    def __getitem__(self, i):
        return self.k * 100 + i

    def __len__(self):
        return self.n


class Batched(Items):
    def __getitems__(self, indices):
        return [("b", self.k * 100 + i) for i in indices]


def test_stack_dataset_like_torch():
    torch = _torch()
    ours = StackDataset(Items(4, 1), Items(4, 2))
    ref = torch.utils.data.StackDataset(Items(4, 1), Items(4, 2))
    assert len(ours) == len(ref) == 4 and [ours[i] for i in range(4)] == [ref[i] for i in range(4)]
    ours_d = StackDataset(a=Items(3, 1), b=Batched(3, 2))
    ref_d = torch.utils.data.StackDataset(a=Items(3, 1), b=Batched(3, 2))
    assert ours_d[2] == ref_d[2] == {"a": 102, "b": 202}
    assert ours_d.__getitems__([2, 0]) == ref_d.__getitems__([2, 0])
    assert StackDataset(Batched(3, 1), Items(3, 2)).__getitems__([1]) == \
        torch.utils.data.StackDataset(Batched(3, 1), Items(3, 2)).__getitems__([1])
    for args, kwargs in (((Items(3, 1), Items(4, 1)), {}), ((), {}), ((), dict(a=Items(2, 1), b=Items(3, 1)))):
        with pytest.raises(ValueError) as ref_err:
            torch.utils.data.StackDataset(*args, **kwargs)
        with pytest.raises(ValueError) as our_err:
            StackDataset(*args, **kwargs)
        assert str(our_err.value) == str(ref_err.value)
    with pytest.raises(ValueError, match="not both"):
        StackDataset(Items(2, 1), b=Items(2, 1))
    batches = list(DataLoader(StackDataset(x=Items(5, 1), y=Items(5, 3)), batch_size=2))
    assert _np(batches[0]["x"]).tolist() == [100, 101] and _np(batches[2]["y"]).tolist() == [304]


class Stream(IterableDataset):
    def __init__(self, start, n):
        self.start, self.n = start, n

    def __iter__(self):
        return iter(range(self.start, self.start + self.n))

    def __len__(self):
        return self.n


def test_chain_dataset_and_concat_via_add():
    chain = ChainDataset([Stream(0, 3), Stream(10, 2)])
    assert list(chain) == [0, 1, 2, 10, 11] and len(chain) == 5
    assert list(Stream(0, 2) + Stream(5, 1)) == [0, 1, 5]
    loader = DataLoader(chain, batch_size=2)
    assert [_np(b).tolist() for b in loader] == [[0, 1], [2, 10], [11]]


def test_random_split_fractions_in_a_loader():
    train, val = random_split(TensorDataset(cnnkit.arange(10)), [0.8, 0.2], generator=cnnkit.Generator().manual_seed(0))
    assert (len(train), len(val)) == (8, 2)
    got = sorted(int(v) for b in DataLoader(train, batch_size=3) for v in _np(b[0])) + \
        sorted(int(v) for b in DataLoader(val, batch_size=3) for v in _np(b[0]))
    assert sorted(got) == list(range(10))


# ---------------------------------------------------------------------------------------------
# default_collate extras
# ---------------------------------------------------------------------------------------------
Pair = collections.namedtuple("Pair", "img label")


def test_default_collate_nested_structures_like_torch():
    torch = _torch()
    from torch.utils.data import default_collate as ref_collate

    def batch(lib):
        return [{"p": Pair(np.full((2,), i, np.float32), i), "t": (np.int32(i), 0.5 * i), "s": f"n{i}"}
                for i in range(3)]

    ours, ref = default_collate(batch(cnnkit)), ref_collate(batch(torch))
    assert isinstance(ours["p"], Pair)
    np.testing.assert_array_equal(_np(ours["p"].img), ref["p"].img.numpy())
    np.testing.assert_array_equal(_np(ours["p"].label), ref["p"].label.numpy())
    assert ours["t"][0].dtype == cnnkit.int32 and str(ref["t"][0].dtype) == "torch.int32"
    assert ours["t"][1].dtype == cnnkit.float64 and _np(ours["t"][1]).tolist() == ref["t"][1].tolist()
    assert ours["s"] == ref["s"] == ["n0", "n1", "n2"]


# ---------------------------------------------------------------------------------------------
# pin_memory
# ---------------------------------------------------------------------------------------------
@pytest.mark.skipif(cnnkit.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_pin_memory_without_cuda_warns_and_tensor_pin_raises():
    t = cnnkit.ones(3)
    assert t.is_pinned() is False
    with pytest.raises(RuntimeError, match="Cannot access accelerator device when none is available."):
        t.pin_memory()
    with pytest.raises(RuntimeError, match="Cannot access accelerator device"):
        cnnkit.tensor([1.0, 2.0], pin_memory=True)
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        batches = list(DataLoader(TensorDataset(cnnkit.arange(6)), batch_size=4, pin_memory=True))
    assert [b[0].is_pinned() for b in batches] == [False, False]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(DataLoader(TensorDataset(cnnkit.arange(6)), batch_size=4))  # no warning without pin_memory


def test_pin_batch_rebuilds_containers():
    class Custom:
        def __init__(self):
            self.pinned = False

        def pin_memory(self):
            self.pinned = True
            return self

    batch = {"a": [1, "s", (2.0, Custom())], "p": Pair(None, 3)}
    out = pin_batch(batch)  # no tensors inside: nothing needs CUDA
    assert out["a"][:2] == [1, "s"] and out["a"][2][1].pinned and isinstance(out["p"], Pair)


@cuda
def test_pinned_tensor_and_non_blocking_round_trip():
    x = cnnkit.from_numpy(np.random.default_rng(0).standard_normal((257, 33)).astype(np.float32))
    p = x.pin_memory()
    assert p.is_pinned() and not x.is_pinned() and p.pin_memory() is p
    np.testing.assert_array_equal(_np(p), _np(x))
    g = p.to("cuda", non_blocking=True)
    back = cnnkit.empty(257, 33).pin_memory()
    back.copy_(g * 2, non_blocking=True)
    cnnkit.cuda.synchronize()
    np.testing.assert_array_equal(_np(back), 2 * _np(x))
    np.testing.assert_array_equal(_np(p.cuda(non_blocking=True).cpu()), _np(x))
    nc = x.t().pin_memory()  # a pinned copy is contiguous
    assert nc.is_pinned() and nc.is_contiguous()
    with pytest.raises(RuntimeError, match="only dense CPU tensors can be pinned"):
        g.pin_memory()


@cuda
def test_pinned_block_is_not_reused_while_an_async_copy_reads_it():
    from cnnkit import _C

    n = 1 << 22  # 16 MiB: the copy takes long enough to still be queued behind the busy kernel
    big = cnnkit.randn(2048, 2048, device="cuda")
    src = cnnkit.full((n,), 7.0).pin_memory()
    dst = cnnkit.empty(n, device="cuda")
    for _ in range(3):
        big = big @ big / 2048  # keep the default stream busy so the copy waits in the queue
    dst.copy_(src, non_blocking=True)
    busy = _C.cuda_host_block_busy(src._t)
    block = src._t.storage_ptr
    del src
    gc.collect()
    stats = _C.cuda_host_memory_stats()
    reuse = cnnkit.empty(n).pin_memory()  # must not get the block still being read
    if busy:
        assert stats["num_deferred_frees"] >= 1
        assert reuse._t.storage_ptr != block
    reuse.fill_(-1.0)
    cnnkit.cuda.synchronize()
    assert float(dst.min().item()) == float(dst.max().item()) == 7.0
    _C.cuda_host_empty_cache()


@cuda
def test_dataloader_pins_batches_with_workers():
    loader = DataLoader(TensorDataset(cnnkit.arange(10.0)), batch_size=4, pin_memory=True, num_workers=2, timeout=30)
    batches = list(loader)
    assert all(b[0].is_pinned() for b in batches)
    assert [_np(b[0].to("cuda", non_blocking=True).cpu()).tolist() for b in batches][-1] == [8.0, 9.0]
