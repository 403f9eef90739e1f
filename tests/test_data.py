"""cnnkit.utils.data: datasets, samplers, DataLoader and default_collate against torch.utils.data."""
import collections

import numpy as np
import pytest

import cnnkit
from cnnkit.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    default_collate,
    random_split,
)


def _torch():
    return pytest.importorskip("torch")


def _np(t):
    return np.asarray(t.detach().numpy())


class Squares(Dataset):
    """Item i is (i, i*i) as plain Python ints: collation makes int64 tensors."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return i, i * i

    def __len__(self):
        return self.n


def _indices(loader):
    return [int(v) for batch in loader for v in _np(batch[0]).reshape(-1)]


# ---------------------------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------------------------
def test_tensor_dataset():
    x = cnnkit.from_numpy(np.arange(12, dtype=np.float32).reshape(6, 2))
    y = cnnkit.from_numpy(np.arange(6))
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(_np(xi), [8.0, 9.0])
    assert int(yi) == 4
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(x, cnnkit.zeros(5))


def test_subset_concat_and_add_like_torch():
    torch = _torch()
    from torch.utils import data as tdata

    ours = ConcatDataset([Squares(3), Squares(5)]) + Squares(2)
    ref = tdata.ConcatDataset([Squares(3), Squares(5)]) + Squares(2)
    assert len(ours) == len(ref) == 10
    assert [ours[i] for i in range(-10, 10)] == [ref[i] for i in range(-10, 10)]
    assert ours.cumulative_sizes == [8, 10] and ref.cumulative_sizes == [8, 10]
    with pytest.raises(ValueError, match="absolute value of index should not exceed dataset length"):
        ours[-11]
    sub = Subset(Squares(10), [7, 2, 5])
    assert len(sub) == 3 and [sub[i] for i in range(3)] == [(7, 49), (2, 4), (5, 25)]
    assert sub.__getitems__([2, 0]) == [(5, 25), (7, 49)]
    with pytest.raises(ValueError, match="datasets should not be an empty iterable"):
        ConcatDataset([])
    assert torch.utils.data.Subset(Squares(10), [7, 2, 5])[1] == sub[1]


def test_random_split_lengths_and_fractions_like_torch():
    torch = _torch()
    from torch.utils import data as tdata

    for lengths in ([3, 7], [0.3, 0.7], [0.1, 0.2, 0.7], [1 / 3] * 3, [0.5, 0.5]):
        for n in (10, 11, 7):
            if all(isinstance(v, int) for v in lengths) and sum(lengths) != n:
                continue
            ours = random_split(Squares(n), lengths)
            ref = tdata.random_split(Squares(n), lengths)
            assert [len(s) for s in ours] == [len(s) for s in ref]
            all_idx = sorted(i for s in ours for i in s.indices)
            assert all_idx == list(range(n))
    with pytest.raises(ValueError, match="Sum of input lengths does not equal the length of the input dataset!"):
        random_split(Squares(10), [3, 3])
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        random_split(Squares(2), [1.0, 0.0])


def test_random_split_generator_determinism():
    a = random_split(Squares(20), [5, 15], generator=cnnkit.Generator().manual_seed(42))
    b = random_split(Squares(20), [5, 15], generator=cnnkit.Generator().manual_seed(42))
    c = random_split(Squares(20), [5, 15], generator=cnnkit.Generator().manual_seed(43))
    assert a[0].indices == b[0].indices and a[1].indices == b[1].indices
    assert a[0].indices + a[1].indices != c[0].indices + c[1].indices
    cnnkit.manual_seed(3)
    d = random_split(Squares(20), [0.25, 0.75])
    cnnkit.manual_seed(3)
    e = random_split(Squares(20), [0.25, 0.75])
    assert d[0].indices == e[0].indices


# ---------------------------------------------------------------------------------------------
# samplers
# ---------------------------------------------------------------------------------------------
def test_samplers():
    torch = _torch()
    assert list(SequentialSampler(range(5))) == [0, 1, 2, 3, 4]
    g = cnnkit.Generator().manual_seed(0)
    perm = list(RandomSampler(range(9), generator=g))
    assert sorted(perm) == list(range(9))
    draws = list(RandomSampler(range(4), replacement=True, num_samples=70, generator=g))
    assert len(draws) == 70 and set(draws) <= set(range(4)) and len(set(draws)) == 4
    more = list(RandomSampler(range(4), num_samples=10, generator=g))
    assert len(more) == 10 and sorted(more[:8]) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert len(RandomSampler(range(4), num_samples=10)) == 10
    assert sorted(SubsetRandomSampler([10, 20, 30])) == [10, 20, 30]
    for sampler_args in ([range(10), 3, False], [range(10), 3, True], [range(9), 3, False], [range(1), 4, False]):
        ours = BatchSampler(SequentialSampler(sampler_args[0]), *sampler_args[1:])
        ref = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(sampler_args[0]), *sampler_args[1:])
        assert list(ours) == list(ref) and len(ours) == len(ref)
    for bad in ([0, False], [True, False], [2, 1]):
        with pytest.raises(ValueError) as ref_err:
            torch.utils.data.BatchSampler(range(3), *bad)
        with pytest.raises(ValueError) as our_err:
            BatchSampler(range(3), *bad)
        assert str(our_err.value) == str(ref_err.value)
    with pytest.raises(ValueError, match="num_samples should be a positive integer value, but got num_samples=0"):
        RandomSampler(range(3), num_samples=0)
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=1)


# ---------------------------------------------------------------------------------------------
# DataLoader
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n,bs,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (1, 4, False),
                                            (1, 4, True), (7, 1, False), (33, 7, True)])
def test_dataloader_batching_like_torch(n, bs, drop_last):
    torch = _torch()
    ours = DataLoader(Squares(n), batch_size=bs, drop_last=drop_last)
    ref = torch.utils.data.DataLoader(Squares(n), batch_size=bs, drop_last=drop_last)
    assert len(ours) == len(ref)
    our_batches, ref_batches = list(ours), list(ref)
    assert len(our_batches) == len(ref_batches)
    for (a, b), (ra, rb) in zip(our_batches, ref_batches):
        assert a.dtype == cnnkit.int64 and b.dtype == cnnkit.int64
        np.testing.assert_array_equal(_np(a), ra.numpy())
        np.testing.assert_array_equal(_np(b), rb.numpy())


def test_dataloader_tensor_dataset_batches():
    x = cnnkit.from_numpy(np.arange(30, dtype=np.float32).reshape(10, 3))
    y = cnnkit.from_numpy(np.arange(10))
    batches = list(DataLoader(TensorDataset(x, y), batch_size=4))
    assert [tuple(b[0].shape) for b in batches] == [(4, 3), (4, 3), (2, 3)]
    assert isinstance(batches[0], list)  # tuples of samples collate to lists, as in torch
    np.testing.assert_array_equal(_np(batches[2][0]), _np(x)[8:])
    np.testing.assert_array_equal(_np(batches[1][1]), [4, 5, 6, 7])


def test_dataloader_shuffle_is_seeded_and_covers_everything():
    cnnkit.manual_seed(0)
    first = _indices(DataLoader(Squares(25), batch_size=4, shuffle=True))
    cnnkit.manual_seed(0)
    again = _indices(DataLoader(Squares(25), batch_size=4, shuffle=True))
    assert first == again and sorted(first) == list(range(25)) and first != list(range(25))
    loader = DataLoader(Squares(25), batch_size=4, shuffle=True)
    assert _indices(loader) != _indices(loader)  # a new permutation every epoch
    g1 = cnnkit.Generator().manual_seed(7)
    g2 = cnnkit.Generator().manual_seed(7)
    a = DataLoader(Squares(25), batch_size=5, shuffle=True, generator=g1)
    b = DataLoader(Squares(25), batch_size=5, shuffle=True, generator=g2)
    assert [_indices(a) for _ in range(3)] == [_indices(b) for _ in range(3)]
    dropped = _indices(DataLoader(Squares(25), batch_size=4, shuffle=True, drop_last=True))
    assert len(dropped) == 24 and len(set(dropped)) == 24


def test_dataloader_options_and_errors_like_torch():
    torch = _torch()
    TDL = torch.utils.data.DataLoader
    bad = [dict(num_workers=-1), dict(timeout=-1), dict(prefetch_factor=2), dict(persistent_workers=True),
           dict(sampler=[0, 1], shuffle=True), dict(batch_sampler=[[0]], batch_size=2),
           dict(batch_sampler=[[0]], drop_last=True), dict(batch_size=None, drop_last=True)]
    for kwargs in bad:
        with pytest.raises(ValueError) as ref_err:
            TDL(Squares(4), **kwargs)
        with pytest.raises(ValueError) as our_err:
            DataLoader(Squares(4), **kwargs)
        assert str(our_err.value) == str(ref_err.value), kwargs
    # A custom sampler, batch_sampler, collate_fn, batch_size=None (no batching) and workers.
    assert _indices(DataLoader(Squares(6), batch_size=2, sampler=[5, 3, 1, 0])) == [5, 3, 1, 0]
    bs = DataLoader(Squares(6), batch_sampler=[[0, 5], [2]])
    assert _indices(bs) == [0, 5, 2] and len(bs) == 2
    assert list(DataLoader(Squares(5), batch_size=2, collate_fn=lambda b: [i for i, _ in b])) == [[0, 1], [2, 3], [4]]
    unbatched = list(DataLoader(Squares(3), batch_size=None))
    assert unbatched == [[0, 0], [1, 1], [2, 4]] == [list(t) for t in TDL(Squares(3), batch_size=None)]
    workers = DataLoader(Squares(7), batch_size=3, num_workers=2, timeout=30)
    assert _indices(workers) == list(range(7))


class Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_dataloader_iterable_dataset_like_torch():
    torch = _torch()

    class TStream(torch.utils.data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

        def __len__(self):
            return 7

    for kwargs in (dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None)):
        ours = [_np(b).tolist() if isinstance(b, cnnkit.Tensor) else b for b in DataLoader(Stream(7), **kwargs)]
        ref = [b.tolist() if isinstance(b, torch.Tensor) else b for b in torch.utils.data.DataLoader(TStream(), **kwargs)]
        assert ours == ref
        assert len(DataLoader(Stream(7), **kwargs)) == len(torch.utils.data.DataLoader(TStream(), **kwargs))
    with pytest.raises(ValueError, match="expected unspecified shuffle option"):
        DataLoader(Stream(3), shuffle=True)


# ---------------------------------------------------------------------------------------------
# default_collate
# ---------------------------------------------------------------------------------------------
Point = collections.namedtuple("Point", ["x", "y"])


def _same(ours, ref):
    torch = _torch()
    if isinstance(ref, torch.Tensor):
        assert isinstance(ours, cnnkit.Tensor), type(ours)
        assert ours.dtype.name == str(ref.dtype).replace("torch.", ""), (ours.dtype, ref.dtype)
        np.testing.assert_array_equal(_np(ours), ref.numpy())
    elif isinstance(ref, dict):
        assert type(ours) is type(ref) and list(ours) == list(ref)
        for k in ref:
            _same(ours[k], ref[k])
    elif isinstance(ref, (list, tuple)):
        assert type(ours) is type(ref) and len(ours) == len(ref)
        for a, b in zip(ours, ref):
            _same(a, b)
    else:
        assert ours == ref


@pytest.mark.parametrize("make_batch", [
    lambda lib: [1, 2, 3],
    lambda lib: [1.5, 2.0],
    lambda lib: [True, False],
    lambda lib: ["a", "b"],
    lambda lib: [(1, 2.5), (3, 4.5)],
    lambda lib: [[1, 2], [3, 4]],
    lambda lib: [{"a": 1, "b": [2.0, 3.0]}, {"a": 4, "b": [5.0, 6.0]}],
    lambda lib: [Point(1, 2.0), Point(3, 4.0)],
    lambda lib: [np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)],
    lambda lib: [np.float64(1.5), np.float64(2.5)],
    lambda lib: [np.int64(1), np.int64(2)],
    lambda lib: [(lib.from_numpy(np.arange(4, dtype=np.float32).reshape(2, 2)), 3),
                 (lib.from_numpy(np.ones((2, 2), dtype=np.float32)), 5)],
    lambda lib: [{"img": lib.from_numpy(np.zeros((1, 3), dtype=np.float64)), "name": "x"},
                 {"img": lib.from_numpy(np.ones((1, 3), dtype=np.float64)), "name": "y"}],
])
def test_default_collate_matches_torch(make_batch):
    torch = _torch()
    from torch.utils.data import default_collate as ref_collate

    _same(default_collate(make_batch(cnnkit)), ref_collate(make_batch(torch)))


def test_default_collate_errors_like_torch():
    torch = _torch()
    from torch.utils.data import default_collate as ref_collate

    for batch in ([[1, 2], [3]], [object(), object()]):
        with pytest.raises((RuntimeError, TypeError)) as ref_err:
            ref_collate(batch)
        with pytest.raises(ref_err.type) as our_err:
            default_collate(batch)
        assert str(our_err.value) == str(ref_err.value)
