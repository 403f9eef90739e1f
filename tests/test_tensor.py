"""Tensor basics: factories, dtypes, views sharing storage, type promotion, printing, conversion."""
import pickle

import numpy as np
import pytest

import cnnkit as ck


def test_factories_and_dtypes():
    assert ck.tensor([1, 2]).dtype is ck.int64
    assert ck.tensor([1.0, 2]).dtype is ck.float32
    assert ck.tensor([True]).dtype is ck.bool
    assert ck.tensor(np.zeros(3)).dtype is ck.float64
    assert ck.zeros(2, 3).shape == (2, 3) and ck.zeros((2, 3)).shape == (2, 3)
    assert ck.ones(4, dtype=ck.float64).dtype is ck.float64
    assert ck.full((2,), 7).dtype is ck.int64 and ck.full((2,), 7.0).dtype is ck.float32
    assert ck.arange(5).tolist() == [0, 1, 2, 3, 4]
    assert ck.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert ck.eye(3).numpy().trace() == 3
    assert ck.zeros_like(ck.ones(2, dtype=ck.float64)).dtype is ck.float64
    assert ck.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_from_numpy_shares_memory_and_tensor_copies():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ck.from_numpy(a)
    a[0, 0] = 42
    assert t[0, 0].item() == 42
    c = ck.tensor(a)
    a[0, 1] = -1
    assert c[0, 1].item() == 1
    n = t.numpy()
    n[1, 2] = 9
    assert t[1, 2].item() == 9
    with pytest.raises(TypeError, match="uint16"):  # float16 is supported since the dtypes package
        ck.from_numpy(np.zeros(2, dtype=np.uint16))


def test_views_share_storage():
    x = ck.arange(24.0).reshape(2, 3, 4)
    v = x.transpose(0, 2)
    assert v.shape == (4, 3, 2) and not v.is_contiguous()
    v[0, 0, 0] = 100.0
    assert x[0, 0, 0].item() == 100.0
    s = x[:, 1, ::2]
    assert s.tolist() == [[4.0, 6.0], [16.0, 18.0]]
    assert x.unsqueeze(1).shape == (2, 1, 3, 4) and x.unsqueeze(1).squeeze(1).shape == (2, 3, 4)
    assert x.permute(2, 0, 1).contiguous().is_contiguous()
    assert x.flatten(1).shape == (2, 12)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        v.view(24)
    assert v.reshape(24).shape == (24,)
    with pytest.raises(RuntimeError, match="invalid for input of size 24"):
        x.view(5, 5)
    e = ck.tensor([1.0, 2.0]).expand(3, 2)
    assert e.stride() == (0, 1) and e.tolist() == [[1, 2]] * 3


def test_indexing_matches_numpy(rng):
    a = rng.standard_normal((5, 6, 7)).astype(np.float32)
    t = ck.tensor(a)
    idx = np.array([4, 0, -1, 2])
    cases = [
        (1,), (slice(1, 4), 2), (Ellipsis, 3), (None, 2, slice(None, None, 3)), (-1, -2, -3),
        (idx,), (slice(None), idx), (idx, idx), (idx, slice(None), idx), (a[:, 0, 0] > 0,),
        (slice(1, 3), [0, 5]), (np.array([[0, 1], [2, 3]]),),
    ]
    for c in cases:
        tc = tuple(ck.tensor(x) if isinstance(x, np.ndarray) else x for x in c)
        np.testing.assert_array_equal(t[tc].numpy(), a[c], err_msg=str(c))
    with pytest.raises(IndexError, match="out of bounds"):
        t[5]
    with pytest.raises(IndexError, match="out of bounds"):
        t[ck.tensor([0, 9])]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0, 0]


def test_setitem(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    t = ck.tensor(a)
    t[1] = 0.0
    a[1] = 0.0
    t[:, 2:4] = ck.ones(4, 2)
    a[:, 2:4] = 1
    t[ck.tensor([0, 3]), 1] = 7.0
    a[[0, 3], 1] = 7
    t[t > 0.5] = -2.0
    a[a > 0.5] = -2
    np.testing.assert_array_equal(t.numpy(), a)


def test_type_promotion():
    f, d, i, b = ck.ones(2), ck.ones(2, dtype=ck.float64), ck.ones(2, dtype=ck.int64), ck.ones(2, dtype=ck.bool)
    assert (f + d).dtype is ck.float64
    assert (i + 1.5).dtype is ck.float32
    assert (i + 1).dtype is ck.int64
    assert (f + ck.tensor(1.0, dtype=ck.float64)).dtype is ck.float32  # 0-d does not upgrade
    assert (i + ck.tensor(1.0, dtype=ck.float64)).dtype is ck.float64  # ...unless its category is higher
    assert (i / 2).dtype is ck.float32
    assert (b + 1).dtype is ck.int64
    assert (f > 0).dtype is ck.bool
    assert (2 ** ck.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]


def test_repr_like_torch():
    assert repr(ck.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(ck.tensor([0.1, 2.0])) == "tensor([0.1000, 2.0000])"
    assert repr(ck.tensor([[1, 2], [3, 4]])) == "tensor([[1, 2],\n        [3, 4]])"
    assert repr(ck.tensor([1.0], requires_grad=True)) == "tensor([1.], requires_grad=True)"
    assert repr(ck.tensor([1e-5, 1.0])) == "tensor([1.0000e-05, 1.0000e+00])"
    assert repr(ck.tensor(2.5)) == "tensor(2.5000)"
    assert repr(ck.tensor([True, False])) == "tensor([ True, False])"
    assert repr(ck.zeros(2, dtype=ck.float64)) == "tensor([0., 0.], dtype=cnnkit.float64)"
    assert "..." in repr(ck.arange(5000))


def test_repr_matches_torch_text():
    torch = pytest.importorskip("torch")
    cases = [np.arange(6.0).reshape(2, 3) / 7, np.array([1e-3, 5.0]), np.array([[[1.0, -2.0]], [[3.0, 4.0]]]),
             np.arange(30.0), np.array([-1.0, 1e9])]
    for a in cases:
        a = a.astype(np.float32)
        assert repr(ck.tensor(a)) == repr(torch.tensor(a)), a


def test_item_tolist_numpy_errors():
    t = ck.tensor([[1.5]])
    assert t.item() == 1.5 and float(t) == 1.5
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        ck.ones(2).item()
    with pytest.raises(RuntimeError, match="requires grad"):
        ck.ones(2, requires_grad=True).numpy()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ck.ones(2))
    assert f"{ck.tensor(0.123456):.3f}" == "0.123"


def test_pickle_save_load_roundtrip(tmp_path):
    t = ck.randn(3, 4)
    u = pickle.loads(pickle.dumps(t))
    assert u.tolist() == t.tolist()
    sd = {"w": t, "n": 3, "nested": {"b": ck.arange(3)}, "l": [1.5, "x"]}
    ck.save(sd, tmp_path / "x.pt")
    back = ck.load(tmp_path / "x.pt")
    assert back["w"].tolist() == t.tolist() and back["nested"]["b"].tolist() == [0, 1, 2]
    assert back["n"] == 3 and back["l"] == [1.5, "x"]


def test_random_is_seeded():
    ck.manual_seed(7)
    a = ck.randn(5)
    ck.manual_seed(7)
    assert ck.randn(5).tolist() == a.tolist()
    r = ck.rand(10000)
    assert 0 <= r.min().item() and r.max().item() < 1 and abs(r.mean().item() - 0.5) < 0.02
    p = ck.randperm(10)
    assert sorted(p.tolist()) == list(range(10))
    i = ck.randint(0, 3, (100,))
    assert i.dtype is ck.int64 and set(i.tolist()) <= {0, 1, 2}


def test_show_config_and_threads(capsys):
    ck.show_config()
    out = capsys.readouterr().out
    assert "cnnkit" in out and "SIMD" in out and "CUDA" in out
    n = ck.get_num_threads()
    ck.set_num_threads(1)
    assert ck.get_num_threads() == 1
    ck.set_num_threads(n)
    with pytest.raises(ValueError):
        ck.set_num_threads(0)
    assert ck.cuda.is_available() in (True, False)
