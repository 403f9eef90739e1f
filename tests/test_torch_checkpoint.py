"""cnnkit's torch-checkpoint reader and writer (python/cnnkit/_torch_format.py) and safetensors I/O."""
import io
import os
import pickle
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import cnnkit
from cnnkit._torch_format import load_torch, save_torch_state_dict

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy()


def test_dtypes_kept_exactly(tmp_path):
    g = torch.Generator().manual_seed(0)
    src = {
        "f32": torch.randn(3, 5, generator=g), "f64": torch.randn(4, dtype=torch.float64, generator=g),
        "f16": torch.randn(7, generator=g).half(), "bf16": torch.randn(2, 3, generator=g).bfloat16(),
        "i64": torch.randint(-2**40, 2**40, (6,), generator=g), "i32": torch.randint(-2**30, 2**30, (5,), generator=g, dtype=torch.int32),
        "i16": torch.randint(-300, 300, (3,), generator=g, dtype=torch.int16),
        "i8": torch.randint(-100, 100, (4,), generator=g, dtype=torch.int8),
        "u8": torch.randint(0, 255, (9,), generator=g, dtype=torch.uint8), "b": torch.rand(5, generator=g) > 0.5,
        "scalar": torch.tensor(3.5),
    }
    p = tmp_path / "d.pth"
    torch.save(src, p)
    out = cnnkit.load(str(p))
    expect = {"f32": cnnkit.float32, "f64": cnnkit.float64, "f16": cnnkit.float16, "bf16": cnnkit.bfloat16,
              "i64": cnnkit.int64, "i32": cnnkit.int32, "i16": cnnkit.int16, "i8": cnnkit.int8,
              "u8": cnnkit.uint8, "b": cnnkit.bool, "scalar": cnnkit.float32}
    assert type(out) is dict and list(out) == list(src)
    for k, v in src.items():
        assert out[k].dtype == expect[k], k
        assert tuple(out[k].shape) == tuple(v.shape)
        if v.dtype is torch.bfloat16:  # compare the bit patterns (NumPy has no bfloat16)
            np.testing.assert_array_equal(out[k].float().numpy(), v.float().numpy())
        else:
            np.testing.assert_array_equal(_np(out[k]), v.numpy())
    back = tmp_path / "back.pth"  # and the writer keeps them: torch reads the same dtypes and values
    cnnkit.save_torch_state_dict(out, str(back))
    again = torch.load(str(back), weights_only=True)
    for k, v in src.items():
        assert again[k].dtype == v.dtype and torch.equal(again[k], v), k


def test_strides_offsets_and_shared_storage(tmp_path):
    base = torch.arange(60, dtype=torch.float32).reshape(3, 4, 5)
    src = OrderedDict(base=base, t=base.transpose(0, 2), s=base[1:, ::2, 3], n=base.view(-1)[7:19],
                      e=torch.ones(3).expand(4, 3).clone())
    p = tmp_path / "s.pth"
    torch.save(src, p)
    out = load_torch(str(p))
    assert isinstance(out, OrderedDict)
    for k, v in src.items():
        np.testing.assert_array_equal(_np(out[k]), v.numpy())
        assert out[k].stride() == v.stride() and out[k].storage_offset() == v.storage_offset(), k
    out["base"][1, 0, 3] = -5.0  # views share the storage, as they did in torch
    out["base"][0, 2, 3] = -7.0
    assert float(out["s"][0, 0]) == -5.0 and float(out["n"][6]) == -7.0 and float(out["t"][3, 2, 0]) == -7.0


def test_nested_containers_parameters_and_numbers(tmp_path):
    w = torch.nn.Parameter(torch.randn(2, 2))
    src = {"model": OrderedDict([("w", w), ("b", torch.zeros(2))]), "epoch": 7, "lr": 0.125, "name": "run",
           "hist": [1.5, 2, None, True], "pair": (torch.ones(1), "x"), "big": 2**70}
    p = tmp_path / "n.pth"
    torch.save(src, p)
    out = cnnkit.load(str(p))
    assert out["epoch"] == 7 and out["lr"] == 0.125 and out["name"] == "run" and out["big"] == 2**70
    assert out["hist"] == [1.5, 2, None, True] and out["pair"][1] == "x"
    assert isinstance(out["model"], OrderedDict)
    assert isinstance(out["model"]["w"], cnnkit.nn.Parameter) and out["model"]["w"].requires_grad
    np.testing.assert_array_equal(_np(out["model"]["w"]), w.detach().numpy())


def test_state_dict_metadata_and_file_object(tmp_path):
    m = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3))
    buf = io.BytesIO()
    torch.save(m.state_dict(), buf)
    buf.seek(0)
    out = cnnkit.load(buf)
    assert list(out) == list(m.state_dict())
    assert out["1.num_batches_tracked"].dtype == cnnkit.int64
    assert hasattr(out, "_metadata")  # torch's per-module version record comes through
    ours = cnnkit.nn.Sequential(cnnkit.nn.Conv2d(2, 3, 3), cnnkit.nn.BatchNorm2d(3))
    ours.load_state_dict(out)
    np.testing.assert_array_equal(_np(ours[0].weight), m[0].weight.detach().numpy())


def test_map_location(tmp_path):
    p = tmp_path / "m.pth"
    torch.save({"a": torch.ones(2)}, p)
    seen = []

    def fn(storage, loc):
        seen.append(loc)
        return storage

    assert float(cnnkit.load(str(p), map_location=fn)["a"].sum()) == 2 and seen == ["cpu"]
    assert cnnkit.load(str(p), map_location="cpu")["a"].device.type == "cpu"
    with pytest.raises(TypeError, match="map_location"):
        cnnkit.load(str(p), map_location=3)


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def _zip_with_pickle(path, payload):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
        z.writestr("archive/version", "3\n")


def test_malicious_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pth"
    _zip_with_pickle(p, pickle.dumps({"x": _Evil(marker)}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global '(posix|os)\.system'"):
        cnnkit.load(str(p))
    assert not marker.exists()
    _zip_with_pickle(p, pickle.dumps(OrderedDict(a=eval), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"(__builtin__|builtins)\.eval"):
        load_torch(str(p))


def test_whole_module_is_refused(tmp_path):
    p = tmp_path / "mod.pth"
    torch.save(torch.nn.Linear(2, 2), p)
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global 'torch\.nn\.modules\.linear\.Linear'"):
        cnnkit.load(str(p))


def test_corrupt_and_truncated_files(tmp_path):
    p = tmp_path / "ok.pth"
    torch.save({"a": torch.randn(100)}, p)
    data = p.read_bytes()
    t = tmp_path / "trunc.pth"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match="trunc.pth is truncated"):
        load_torch(str(t))
    # a valid zip whose storage record is missing or short
    for name, drop in (("missing.pth", True), ("short.pth", False)):
        q = tmp_path / name
        with zipfile.ZipFile(p) as src, zipfile.ZipFile(q, "w") as dst:
            for info in src.infolist():
                blob = src.read(info.filename)
                if info.filename.endswith("data/0"):
                    if drop:
                        continue
                    blob = blob[:10]
                dst.writestr(info.filename, blob)
        with pytest.raises(RuntimeError, match="storage 0"):
            load_torch(str(q))
    bad = tmp_path / "badpkl.pth"
    _zip_with_pickle(bad, b"\x80\x02}q\x00(X")
    with pytest.raises(pickle.UnpicklingError, match="corrupt data.pkl"):
        load_torch(str(bad))


def test_big_endian_checkpoint(tmp_path):
    src = {"a": torch.randn(3, 2), "b": torch.arange(4)}
    p = tmp_path / "le.pth"
    torch.save(src, p)
    q = tmp_path / "be.pth"
    with zipfile.ZipFile(p) as z, zipfile.ZipFile(q, "w") as out:
        for info in z.infolist():
            blob = z.read(info.filename)
            if info.filename.endswith("byteorder"):
                blob = b"big"
            elif "/data/" in info.filename:
                item = 4 if info.filename.endswith("/0") else 8
                blob = np.frombuffer(blob, dtype=f"<{'f' if item == 4 else 'i'}{item}").byteswap().tobytes()
            out.writestr(info.filename, blob)
    out = load_torch(str(q))
    np.testing.assert_array_equal(_np(out["a"]), src["a"].numpy())
    np.testing.assert_array_equal(_np(out["b"]), src["b"].numpy())


def test_legacy_format(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    src = OrderedDict(w=base, t=base.t(), row=base[1], h=torch.randn(5).half(), i=torch.arange(3),
                      p=torch.nn.Parameter(torch.ones(2)), meta={"epoch": 3})
    p = tmp_path / "old.pth"
    torch.save(src, p, _use_new_zipfile_serialization=False)
    out = cnnkit.load(str(p))
    for k in ("w", "t", "row", "i"):
        np.testing.assert_array_equal(_np(out[k]), src[k].numpy())
        assert out[k].stride() == src[k].stride()
    np.testing.assert_array_equal(_np(out["h"]), src["h"].float().numpy())
    assert isinstance(out["p"], cnnkit.nn.Parameter) and out["meta"] == {"epoch": 3}
    out["w"][1, 2] = -1.0
    assert float(out["t"][2, 1]) == -1.0 and float(out["row"][2]) == -1.0
    with open(p, "rb") as fh:
        assert float(cnnkit.load(fh, map_location="cpu")["w"].sum()) == 66.0
    data = p.read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[:-20])
    with pytest.raises(RuntimeError, match="truncated"):
        cnnkit.load(str(tmp_path / "cut.pth"))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "mod.pth", _use_new_zipfile_serialization=False)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global 'torch.nn.modules.linear.Linear'"):
        cnnkit.load(str(tmp_path / "mod.pth"))


def test_writer_is_read_by_torch_and_by_us(tmp_path):
    m = cnnkit.nn.Sequential(cnnkit.nn.Conv2d(3, 4, 3), cnnkit.nn.BatchNorm2d(4), cnnkit.nn.Linear(4, 2))
    sd = m.state_dict()
    p = tmp_path / "ours.pth"
    shared = cnnkit.randn(3)
    payload = {"sd": sd, "step": 12, "big": -(2**65), "f": 0.1, "names": ["a", "b"], "t": (shared, shared),
               "none": None, "flag": False, "x64": cnnkit.randn(2, 2, dtype=cnnkit.float64),
               "mask": cnnkit.tensor([True, False]), "u8": cnnkit.tensor([1, 255], dtype=cnnkit.uint8),
               "param": cnnkit.nn.Parameter(cnnkit.ones(2)), "view": cnnkit.arange(12.0).reshape(3, 4).t()}
    save_torch_state_dict(payload, str(p))
    theirs = torch.load(p, weights_only=True)
    assert list(theirs["sd"]) == list(sd) and isinstance(theirs["sd"], OrderedDict)
    for k, v in sd.items():
        np.testing.assert_array_equal(theirs["sd"][k].numpy(), _np(v))
    assert theirs["step"] == 12 and theirs["big"] == -(2**65) and theirs["f"] == 0.1 and theirs["names"] == ["a", "b"]
    assert theirs["none"] is None and theirs["flag"] is False
    assert theirs["t"][0].data_ptr() == theirs["t"][1].data_ptr()
    assert theirs["x64"].dtype == torch.float64 and theirs["mask"].dtype == torch.bool
    assert theirs["u8"].tolist() == [1, 255]
    assert isinstance(theirs["param"], torch.nn.Parameter)
    np.testing.assert_array_equal(theirs["view"].numpy(), np.arange(12.0, dtype=np.float32).reshape(3, 4).T)
    assert len(torch.load(p, weights_only=True, mmap=True)["sd"]) == len(sd)  # records are 64-byte aligned
    back = cnnkit.load(str(p))
    np.testing.assert_array_equal(_np(back["view"]), _np(payload["view"]))
    with pytest.raises(TypeError, match="cannot store an object of type set"):
        save_torch_state_dict({"s": {1}}, str(tmp_path / "bad.pth"))


def test_cnnkit_own_format_still_loads(tmp_path):
    p = tmp_path / "own.pt"
    cnnkit.save({"a": cnnkit.ones(2)}, str(p))
    assert float(cnnkit.load(str(p))["a"].sum()) == 2


def test_safetensors_roundtrip(tmp_path):
    pytest.importorskip("safetensors")
    from cnnkit.utils.safetensors import load_file, save_file

    src = {"w": cnnkit.randn(3, 4), "i": cnnkit.arange(5), "view": cnnkit.randn(4, 3).t()}
    p = tmp_path / "m.safetensors"
    save_file(src, str(p), metadata={"format": "pt"})
    out = cnnkit.load(str(p))
    for k, v in src.items():
        np.testing.assert_array_equal(_np(out[k]), _np(v))
    import safetensors.torch

    safetensors.torch.save_file({"h": torch.randn(3).half(), "x": torch.randn(2, 2)}, str(tmp_path / "t.safetensors"))
    back = load_file(str(tmp_path / "t.safetensors"))
    assert back["h"].dtype == cnnkit.float32 and tuple(back["x"].shape) == (2, 2)
    with pytest.raises(TypeError, match="str keys and Tensor values"):
        save_file({"a": np.ones(2)}, str(p))
