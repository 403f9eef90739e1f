"""cnnkit.save is atomic and cnnkit.load validates before it allocates (issue 15, items 1 and 2).

Every bad file must raise ``cnnkit.serialization.CheckpointError`` naming the file and what is wrong;
files written by earlier versions (tests/data/) keep loading. The damaged-file corpus runs in a
subprocess (tests/serialization_corpus.py) so a crash fails the test instead of killing pytest.
"""
import io
import json
import os
import pickle
import stat
import subprocess
import sys
import time
import tracemalloc
import zipfile
from collections import OrderedDict

import numpy as np
import pytest

import cnnkit as ck
from cnnkit import nn
from cnnkit.serialization import CheckpointError

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _model():
    ck.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 3 * 3, 2))


def _npy(arr):
    bio = io.BytesIO()
    np.lib.format.write_array(bio, np.asarray(arr), allow_pickle=False)
    return bio.getvalue()


def _npy_declaring(shape, descr, data):
    """An .npy record whose header declares ``shape``/``descr`` followed by ``data`` (any bytes)."""
    bio = io.BytesIO()
    np.lib.format.write_array_header_1_0(bio, {"descr": descr, "fortran_order": False, "shape": shape})
    return bio.getvalue() + data


def _meta(obj):
    return _npy(np.frombuffer(json.dumps(obj).encode(), dtype=np.uint8))


def _archive(path, entries):
    """A zip of ``entries`` (name -> bytes), stored like np.savez does."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, blob in entries.items():
            zf.writestr(name, blob)
    return path


def _safe_file(path, root, arrays, tensors=None, version=2):
    meta = {"format": "cnnkit-safe", "version": version, "root": root}
    if tensors is not None:
        meta["tensors"] = tensors
    return _archive(path, {"__meta__.npy": _meta(meta), **{f"{k}.npy": v for k, v in arrays.items()}})


def _weight_file(path, blob, shape=(2, 2)):
    root = {"__odict__": [["layer1.0.weight", {"__tensor__": "t0", "requires_grad": False}]]}
    return _safe_file(path, root, {"t0": blob}, {"t0": {"dtype": "float32", "shape": list(shape)}})


def _leftovers(directory, keep):
    return sorted(f for f in os.listdir(directory) if f not in keep)


# ------------------------------------------------------------------------------------- error type
def test_checkpoint_error_is_a_runtime_and_unpickling_error():
    assert issubclass(CheckpointError, RuntimeError) and issubclass(CheckpointError, pickle.UnpicklingError)
    assert ck.serialization.UnpicklingError is CheckpointError  # the name earlier versions exported
    assert "CheckpointError" in ck.serialization.__all__
    assert repr(CheckpointError("x")) == "CheckpointError('x')"
    assert CheckpointError.__module__ == "cnnkit.serialization"


# ------------------------------------------------------------------------------- older files load
def _equal_tensor(t, expected):
    got = (t.float() if t.dtype is ck.bfloat16 else t).detach().numpy()
    np.testing.assert_array_equal(got.reshape(expected.shape), expected)


def test_version_1_fixture_still_loads():
    """tests/data/cnnkit_safe_v1.pt was written by cnnkit.save before this change (format version 1)."""
    obj = ck.load(os.path.join(DATA, "cnnkit_safe_v1.pt"))
    expected = np.load(os.path.join(DATA, "cnnkit_safe_v1_expected.npz"))
    assert type(obj["model"]) is OrderedDict and list(obj["model"])[:2] == ["0.weight", "0.bias"]
    assert obj["epoch"] == 7 and obj["name"] == "fixture" and obj["hist"] == [1.5, None, True, (1, 2)]
    assert sorted(obj["optim"]) == ["param_groups", "state"] and obj["optim"]["param_groups"][0]["lr"] == 0.1
    assert obj["leaf"].requires_grad and obj["leaf"].is_leaf
    d = obj["dtypes"]
    assert [d[k].dtype for k in d] == [ck.bfloat16, ck.float16, ck.int8, ck.uint8, ck.bool, ck.int64, ck.float64,
                                       ck.float32, ck.float32]
    assert tuple(d["empty"].shape) == (0, 3)
    n = 0
    for key in expected.files:
        node = obj
        for part in key.split("|")[1:]:
            node = node[int(part)] if isinstance(node, list) else node[part if part in node else int(part)]
        _equal_tensor(node, expected[key])
        n += 1
    assert n == 25
    # the model part loads into the model it came from
    m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 4 * 4, 2))
    m.load_state_dict(obj["model"])


def test_version_0_files_without_a_header_still_load(tmp_path):
    """The first format stored the structure itself as __meta__ (no format/version record)."""
    root = {"__dict__": [["w", {"__tensor__": "t0", "requires_grad": False}], ["n", 4]]}
    p = _archive(tmp_path / "v0.pt", {"__meta__.npy": _meta(root), "t0.npy": _npy(np.arange(3, dtype=np.float32))})
    out = ck.load(p)
    assert out["n"] == 4 and out["w"].tolist() == [0.0, 1.0, 2.0]


def test_torch_fixtures_load():
    legacy = ck.load(os.path.join(DATA, "torch_legacy.pt"))
    assert list(legacy) == ["w", "t", "h", "i", "p", "meta"]
    np.testing.assert_array_equal(legacy["w"].numpy(), np.arange(12, dtype=np.float32).reshape(3, 4))
    assert legacy["t"].stride() == (1, 4) and isinstance(legacy["p"], nn.Parameter)
    written = ck.load(os.path.join(DATA, "torch_written.pt"))
    assert written["epoch"] == 2 and "0.weight" in written["model"]
    ours = ck.load(os.path.join(DATA, "torch_zip_small.pt"))
    assert list(ours)[-1] == "4.bias"
    torch = pytest.importorskip("torch")
    for fname, got in (("torch_written.pt", written), ("torch_legacy.pt", legacy)):
        ref = torch.load(os.path.join(DATA, fname), weights_only=True)
        model = ref["model"] if "model" in ref else ref
        mine = got["model"] if "model" in got else got
        for k, v in model.items():
            if hasattr(v, "numpy"):
                np.testing.assert_array_equal(mine[k].detach().float().numpy(), v.detach().float().numpy())


# ------------------------------------------------------------------------------------ atomic save
def test_save_writes_version_2_with_meta_first(tmp_path):
    p = tmp_path / "a.pt"
    ck.save({"w": ck.ones(2, 3), "s": ck.tensor(5), "b": ck.zeros(2, dtype=ck.bfloat16)}, p)
    with zipfile.ZipFile(p) as zf:
        assert zf.namelist()[0] == "__meta__.npy"
        meta = json.loads(np.load(io.BytesIO(zf.read("__meta__.npy"))).tobytes())
    assert meta["format"] == "cnnkit-safe" and meta["version"] == 2
    assert meta["tensors"] == {"t0": {"dtype": "float32", "shape": [2, 3]}, "t1": {"dtype": "int64", "shape": []},
                               "t2": {"dtype": "bfloat16", "shape": [2]}}
    out = ck.load(p)
    assert tuple(out["s"].shape) == () and out["s"].item() == 5  # a 0-d tensor stays 0-d
    assert out["b"].dtype is ck.bfloat16


def test_new_file_mode_follows_the_umask_and_existing_modes_are_kept(tmp_path):
    old = os.umask(0o027)
    try:
        ck.save({"w": ck.ones(1)}, tmp_path / "new.pt")
        with open(tmp_path / "plain.bin", "wb") as fh:  # what a plain open() creates
            fh.write(b"x")
    finally:
        os.umask(old)
    mode = stat.S_IMODE(os.stat(tmp_path / "new.pt").st_mode)
    assert mode == stat.S_IMODE(os.stat(tmp_path / "plain.bin").st_mode) == 0o640
    os.chmod(tmp_path / "new.pt", 0o604)
    ck.save({"w": ck.zeros(1)}, tmp_path / "new.pt")
    assert stat.S_IMODE(os.stat(tmp_path / "new.pt").st_mode) == 0o604
    assert ck.load(tmp_path / "new.pt")["w"].tolist() == [0.0]


def test_save_through_a_symlink_replaces_its_target(tmp_path):
    target = tmp_path / "real.pt"
    ck.save({"w": ck.ones(1)}, target)
    link = tmp_path / "link.pt"
    os.symlink(target, link)
    ck.save({"w": ck.full((1,), 4.0)}, link)
    assert os.path.islink(link) and ck.load(target)["w"].tolist() == [4.0]


def test_exception_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    ck.save(_model().state_dict(), path)
    before = path.read_bytes()

    def half_then_fail(fh, **arrays):
        fh.write(b"PK\x03\x04" + b"\0" * 1000)  # part of an archive is on disk when the writer fails
        raise RuntimeError("serializer failed part-way")

    monkeypatch.setattr(ck.serialization.np, "savez", half_then_fail)
    with pytest.raises(RuntimeError, match="part-way"):
        ck.save({"w": ck.zeros(100)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and _leftovers(tmp_path, {"ck.pt"}) == []
    assert list(ck.load(path)) == list(_model().state_dict())


def test_object_whose_pickling_raises_keeps_the_old_file(tmp_path):
    path = tmp_path / "ck.pt"
    ck.save({"w": ck.ones(3)}, path)

    class Unpicklable:
        def __reduce__(self):
            raise TypeError("cannot pickle this")

    with pytest.raises(TypeError, match="cannot pickle"):
        ck.save({"w": ck.zeros(3), "obj": Unpicklable()}, path)
    assert ck.load(path)["w"].tolist() == [1.0] * 3 and _leftovers(tmp_path, {"ck.pt"}) == []


def test_keyboard_interrupt_mid_write_removes_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    ck.save({"w": ck.ones(2)}, path)

    def interrupted(fh, **arrays):
        fh.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(ck.serialization.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ck.save({"w": ck.zeros(2)}, path)
    monkeypatch.undo()
    assert ck.load(path)["w"].tolist() == [1.0, 1.0] and _leftovers(tmp_path, {"ck.pt"}) == []


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE and SIGXFSZ are POSIX")
def test_disk_full_in_a_size_limited_process_keeps_the_old_checkpoint(tmp_path):
    """A 4 MB state_dict saved over an existing checkpoint by a process limited to 64 KiB files: the
    write fails with a clear OSError, the old checkpoint loads unchanged and no temporary is left."""
    path = tmp_path / "ck.pt"
    ck.save(_model().state_dict(), path)
    before = path.read_bytes()
    code = (
        "import resource, signal, sys, cnnkit as ck\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "try:\n"
        f"    ck.save({{'big': ck.zeros(1 << 20), 'w': ck.ones(3)}}, {str(path)!r})\n"
        "except OSError as e:\n"
        "    print(type(e).__name__, e.errno, e)\n"
        "    sys.exit(3)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ck.__file__)))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 3, r.stdout + r.stderr
    assert "cnnkit.save: writing" in r.stdout and "File too large" in r.stdout and "unchanged" in r.stdout
    assert path.read_bytes() == before and _leftovers(tmp_path, {"ck.pt"}) == []
    assert list(ck.load(path)) == list(_model().state_dict())


def test_save_into_a_missing_directory_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot create a temporary file in .*nowhere"):
        ck.save({"w": ck.ones(1)}, tmp_path / "nowhere" / "ck.pt")


def test_file_objects_are_written_in_place(tmp_path):
    """No atomicity is possible for a file object: a failing write raises and what was written stays."""
    bio = io.BytesIO()
    ck.save(_model().state_dict(), bio)
    bio.seek(0)
    assert list(ck.load(bio)) == list(_model().state_dict())

    class Full(io.RawIOBase):
        def writable(self):
            return True

        def write(self, b):
            raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        ck.save({"w": ck.ones(2)}, Full())


def test_nesting_bound_on_save_and_load(tmp_path):
    ok = [ck.ones(1)]
    for _ in range(ck.serialization._safe.MAX_DEPTH - 2):
        ok = {"k": ok} if len(str(_)) % 2 else (ok,)
    ok = [ok]  # 100 containers: lists, dicts and tuples
    ck.save(ok, tmp_path / "deep.pt")
    back = ck.load(tmp_path / "deep.pt")
    for _ in range(ck.serialization._safe.MAX_DEPTH - 1):
        back = back["k"] if isinstance(back, dict) else back[0]
    assert back[0].tolist() == [1.0]
    with pytest.raises(ValueError, match="more than 100 levels"):
        ck.save([ok], tmp_path / "deeper.pt")


# ------------------------------------------------------------------------------- load validation
def _raises(path, pattern):
    with pytest.raises(CheckpointError, match=pattern) as info:
        ck.load(path)
    msg = str(info.value)
    assert os.fspath(path) in msg and "allow_pickle" not in msg
    return msg


def test_empty_random_and_truncated_files(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    _raises(tmp_path / "empty.pt", "is empty")
    (tmp_path / "random.pt").write_bytes(bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)))
    _raises(tmp_path / "random.pt", "not a cnnkit or PyTorch checkpoint")
    good = tmp_path / "good.pt"
    ck.save(_model().state_dict(), good)
    data = good.read_bytes()
    for cut in (10, len(data) // 3, len(data) - 1):
        (tmp_path / "cut.pt").write_bytes(data[:cut])
        _raises(tmp_path / "cut.pt", "truncated")


def test_a_zip_that_is_no_checkpoint(tmp_path):
    p = tmp_path / "plain.npz"
    np.savez(p, a=np.zeros(3))
    _raises(p, "not a cnnkit or PyTorch checkpoint: a zip archive holding neither")


@pytest.mark.parametrize("shape", [(2 ** 40,), (2 ** 62, 2 ** 62), (2 ** 31, 2 ** 31, 0, 5)])
def test_a_huge_declared_shape_fails_fast_without_allocating(tmp_path, shape):
    p = _weight_file(tmp_path / "huge.pt", _npy_declaring(shape, "<f4", b"\0" * 16), shape)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        if 0 in shape:  # 0 elements: declared 0 bytes, 16 present
            msg = _raises(p, r"entry 'layer1.0.weight' declares shape \[2147483648, 2147483648, 0, 5\] of float32 "
                             r"\(0 bytes\) but holds 16 bytes")
        else:
            n = int(np.prod(np.array(shape, dtype=object))) * 4
            msg = _raises(p, rf"entry 'layer1.0.weight' declares shape \[{', '.join(map(str, shape))}\] of float32 "
                             rf"\({n} bytes\) but holds 16 bytes")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0 and peak < 4 << 20, (peak, msg)


def test_an_entry_holding_more_or_fewer_bytes_than_declared(tmp_path):
    p = _weight_file(tmp_path / "more.pt", _npy_declaring((2, 2), "<f4", b"\0" * 20))
    _raises(p, r"declares shape \[2, 2\] of float32 \(16 bytes\) but holds 20 bytes")
    p = _weight_file(tmp_path / "fewer.pt", _npy_declaring((2, 2), "<f4", b"\0" * 15))
    _raises(p, r"\(16 bytes\) but holds 15 bytes")


def test_a_zero_length_entry_and_zero_element_tensors(tmp_path):
    _raises(_weight_file(tmp_path / "zero.pt", b""), "entry 'layer1.0.weight' has an unreadable array header")
    ck.save({"e": ck.zeros(0, 3), "f": ck.zeros(2, 0, dtype=ck.int64)}, tmp_path / "ok.pt")
    out = ck.load(tmp_path / "ok.pt")
    assert tuple(out["e"].shape) == (0, 3) and out["f"].dtype is ck.int64


def test_dtype_records_are_checked(tmp_path):
    root = {"__dict__": [["w", {"__tensor__": "t0", "requires_grad": False}]]}
    arr = _npy(np.zeros(2, dtype=np.float32))
    _raises(_safe_file(tmp_path / "a.pt", root, {"t0": arr}, {"t0": {"dtype": "complex64", "shape": [2]}}),
            "entry 'w' has unknown dtype 'complex64'")
    _raises(_safe_file(tmp_path / "b.pt", root, {"t0": arr}, {"t0": {"dtype": "int32", "shape": [2]}}),
            r"entry 'w' is declared as int32 of shape \[2\] but holds float32 of shape \[2\]")
    _raises(_safe_file(tmp_path / "c.pt", root, {"t0": arr}, {"t0": {"dtype": "float32", "shape": [1, 2]}}),
            "declared as float32 of shape")
    _raises(_safe_file(tmp_path / "d.pt", root, {"t0": _npy_declaring((2,), "|O", b"\0" * 16)}, None, version=1),
            "NumPy dtype '|O'")
    _raises(_safe_file(tmp_path / "e.pt", root, {"t0": _npy(np.zeros(2, dtype=np.complex64))}, None, version=1),
            "NumPy dtype '<c8'")
    _raises(_safe_file(tmp_path / "f.pt", root, {"t0": _npy(np.zeros(2, dtype=np.uint16))}, None, version=1),
            "does not match its record")
    grad_int = {"__dict__": [["i", {"__tensor__": "t0", "requires_grad": True}]]}
    _raises(_safe_file(tmp_path / "g.pt", grad_int, {"t0": _npy(np.zeros(2, dtype=np.int64))}, None, version=1),
            "int64 is marked requires_grad")


def test_format_and_version_header(tmp_path):
    arr = {"t0": _npy(np.zeros(1, dtype=np.float32))}
    _raises(_safe_file(tmp_path / "v3.pt", [], arr, {}, version=3), "format version 3, newer than this cnnkit")
    _raises(_safe_file(tmp_path / "v.pt", [], arr, {}, version="2"), "invalid format version '2'")
    p = _archive(tmp_path / "fmt.pt", {"__meta__.npy": _meta({"format": "something-else", "version": 1})})
    _raises(p, "not a cnnkit checkpoint: its '__meta__' names format 'something-else'")
    p = _archive(tmp_path / "noroot.pt", {"__meta__.npy": _meta({"format": "cnnkit-safe", "version": 2})})
    _raises(p, "lacks the root record")
    p = _archive(tmp_path / "notable.pt", {"__meta__.npy": _meta({"format": "cnnkit-safe", "version": 2, "root": 1})})
    _raises(p, "lacks the tensors record")
    p = _archive(tmp_path / "json.pt", {"__meta__.npy": _npy(np.frombuffer(b"{\"format\": ", dtype=np.uint8))})
    _raises(p, "not valid JSON")
    p = _archive(tmp_path / "f4.pt", {"__meta__.npy": _npy(np.zeros(3, dtype=np.float32))})
    _raises(p, "expected 1-D uint8")


@pytest.mark.parametrize("depth", [350, 100_000])
def test_deep_nesting_is_refused_without_recursion_error(tmp_path, depth):
    text = ("[" * depth + "]" * depth).encode()
    meta = b'{"format": "cnnkit-safe", "version": 1, "root": ' + text + b"}"
    p = _archive(tmp_path / "deep.pt", {"__meta__.npy": _npy(np.frombuffer(meta, dtype=np.uint8))})
    _raises(p, "nests more than 100 containers deep")


def test_structure_records_are_checked(tmp_path):
    t = {"__tensor__": "t0", "requires_grad": False}
    arr = {"t0": _npy(np.zeros(1, dtype=np.float32))}
    cases = [
        ({"__dict__": [["w", {"__tensor__": "t1", "requires_grad": False}]]}, "'w' refers to array 't1', which"),
        ({"__dict__": [["w", t], ["v", t]]}, "'t0' is referenced twice"),
        ({"__dicu__": []}, "unknown record"),
        ({"__dict__": [["w"]]}, r"not a \[key, value\] pair"),
        ({"__dict__": [[["a"], 1]]}, "dict key is not a string"),
        ({"__dict__": [["w", {"__tensor__": 5}]]}, "malformed tensor record"),
        ({"__tuple__": "abc"}, "malformed __tuple__ record"),
    ]
    for i, (root, pattern) in enumerate(cases):
        _raises(_safe_file(tmp_path / f"s{i}.pt", root, arr, None, version=1), pattern)
    out = ck.load(_safe_file(tmp_path / "keys.pt", {"__dict__": [[{"__tuple__": [1, "a"]}, t], [2.5, None]]}, arr,
                             None, version=1))
    assert list(out) == [(1, "a"), 2.5]


def test_whole_objects_still_need_weights_only_false(tmp_path):
    p = tmp_path / "m.pt"
    ck.save(_model(), p)
    msg = _raises(p, "Weights only load failed")
    assert "weights_only=False" in msg
    assert isinstance(ck.load(p, weights_only=False), nn.Sequential)


def test_damaged_whole_object_pickle_is_refused_before_unpickling(tmp_path):
    """Even with weights_only=False, a pickle whose opcode lengths exceed the data fails cleanly."""
    blob = pickle.dumps(_model(), protocol=2)
    bad = blob[:-1] + b"\x96" + (2 ** 40).to_bytes(8, "little") + b"."
    meta = {"format": "cnnkit-pickle", "version": 2}
    for i, data in enumerate((bad, blob[: len(blob) // 2])):
        p = _archive(tmp_path / f"m{i}.pt", {"__meta__.npy": _meta(meta),
                                             "__pickle__.npy": _npy(np.frombuffer(data, dtype=np.uint8))})
        with pytest.raises(CheckpointError, match="corrupt pickled object"):
            ck.load(p, weights_only=False)
    p = _archive(tmp_path / "ok.pt", {"__meta__.npy": _meta(meta),
                                      "__pickle__.npy": _npy(np.frombuffer(blob, dtype=np.uint8))})
    assert isinstance(ck.load(p, weights_only=False), nn.Sequential)


def test_compressed_entries_and_zip_directory_checks(tmp_path):
    src = tmp_path / "src.pt"
    ck.save(_model().state_dict(), src)

    def rewrite(dst, method):
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression=method) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info))
        return dst

    deflated = ck.load(rewrite(tmp_path / "deflated.pt", zipfile.ZIP_DEFLATED))  # np.savez_compressed-style
    assert all(ck.equal(v, _model().state_dict()[k]) for k, v in deflated.items())
    try:
        import bz2  # noqa: F401
    except ImportError:
        pass
    else:
        _raises(rewrite(tmp_path / "bz2.pt", zipfile.ZIP_BZIP2), "uses zip compression method 12")
    # a deflated entry claiming to expand more than deflate can: a corrupt directory, refused up front
    p = tmp_path / "bomb.pt"
    data = bytearray(rewrite(p, zipfile.ZIP_DEFLATED).read_bytes())
    cd = data.rfind(b"PK\x01\x02")  # the last central directory record: bump its uncompressed size
    data[cd + 24:cd + 28] = (2 ** 31).to_bytes(4, "little")
    p.write_bytes(bytes(data))
    _raises(p, "declares 2147483648 bytes from")


def test_non_seekable_file_objects_and_missing_files(tmp_path):
    bio = io.BytesIO()
    ck.save({"w": ck.arange(4)}, bio)

    class Stream(io.RawIOBase):
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            chunk = self.data.read(len(b))
            b[:len(chunk)] = chunk
            return len(chunk)

    assert ck.load(Stream(bio.getvalue()))["w"].tolist() == [0, 1, 2, 3]
    with pytest.raises(CheckpointError, match="the file object is truncated"):
        ck.load(Stream(bio.getvalue()[:-10]))
    with pytest.raises(FileNotFoundError):
        ck.load(tmp_path / "absent.pt")
    with pytest.raises(FileNotFoundError):
        ck.load(tmp_path / "absent.safetensors")
    (tmp_path / "text.pt").write_text("hello")
    with open(tmp_path / "text.pt") as fh:
        with pytest.raises(TypeError, match="binary file object"):
            ck.load(fh)


# ---------------------------------------------------------------------------- PyTorch-format files
def _torch_pickle(numel, size, stride, legacy=False):
    """A data.pkl for {'w': tensor} with the given storage element count, size and stride (written
    opcode by opcode with cnnkit's own torch-format emitter)."""
    from cnnkit._torch_format import _Emitter

    em = _Emitter()
    em.out += b"}(" if not legacy else b"ccollections\nOrderedDict\n)R("
    em.obj("w")
    em.global_("torch._utils", "_rebuild_tensor_v2")
    em.out += b"(("
    em.obj("storage")
    em.global_("torch", "FloatStorage")
    em.obj("0")
    em.obj("cpu")
    em.obj(numel)
    if legacy:
        em.obj(None)
    em.out += b"tQ"
    em.obj(0)
    em.obj(tuple(size))
    em.obj(tuple(stride))
    em.obj(False)
    em.global_("collections", "OrderedDict")
    em.out += b")RtRu."
    return bytes(em.out)


def _torch_zip(path, pkl, data):
    return _archive(path, {"archive/data.pkl": pkl, "archive/byteorder": b"little", "archive/data/0": data,
                           "archive/version": b"3\n"})


def test_torch_zip_declared_sizes_are_checked_first(tmp_path):
    ok = _torch_zip(tmp_path / "ok.pt", _torch_pickle(4, (2, 2), (2, 1)), np.arange(4, dtype="<f4").tobytes())
    assert ck.load(ok)["w"].tolist() == [[0.0, 1.0], [2.0, 3.0]]
    tracemalloc.start()
    try:
        p = _torch_zip(tmp_path / "numel.pt", _torch_pickle(2 ** 40, (2 ** 40,), (1,)), b"\0" * 16)
        _raises(p, r"storage 0 declares 1099511627776 elements .* the record has 16 bytes")
        p = _torch_zip(tmp_path / "view.pt", _torch_pickle(4, (2 ** 40,), (1,)), b"\0" * 16)
        _raises(p, r"declares size \[1099511627776\] .* past the end of its storage of 4 elements")
        p = _torch_zip(tmp_path / "stride.pt", _torch_pickle(4, (2, 2), (3, 1)), b"\0" * 16)
        _raises(p, "past the end of its storage")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    p = _torch_zip(tmp_path / "neg.pt", _torch_pickle(4, (-2, 2), (2, 1)), b"\0" * 16)
    _raises(p, "invalid tensor record")
    with pytest.raises(CheckpointError, match="not a PyTorch zip checkpoint"):
        ck.load_torch(_archive(tmp_path / "npz.pt", {"x.npy": _npy(np.zeros(1))}))


def _legacy_file(path, numel, data_count, data):
    head = b"".join(pickle.dumps(v, protocol=2) for v in
                    (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}))
    body = _torch_pickle(numel, (numel,), (1,), legacy=True) + pickle.dumps(["0"], protocol=2)
    path.write_bytes(head + body + int(data_count).to_bytes(8, "little", signed=True) + data)
    return path


def test_legacy_declared_sizes_are_checked_before_allocation(tmp_path):
    ok = _legacy_file(tmp_path / "ok.pt", 3, 3, np.arange(3, dtype="<f4").tobytes())
    assert ck.load(ok)["w"].tolist() == [0.0, 1.0, 2.0]
    tracemalloc.start()
    try:
        _raises(_legacy_file(tmp_path / "huge.pt", 2 ** 40, 2 ** 40, b"\0" * 12),
                "storage 0 declares 1099511627776 elements .*more than the file holds")
        _raises(_legacy_file(tmp_path / "count.pt", 3, 2 ** 60, b"\0" * 12), "its data record declares")
        _raises(_legacy_file(tmp_path / "short.pt", 3, 3, b"\0" * 8), "truncated")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_pickle_lengths_and_memo_indices_are_prescanned(tmp_path):
    """A flipped opcode can turn the next 4-8 bytes into a length or memo index the C unpickler would
    allocate from before checking: the prescan refuses it first."""
    good = _torch_pickle(4, (4,), (1,))
    data = np.arange(4, dtype="<f4").tobytes()
    bytearray8 = good[:-1] + b"\x96" + (2 ** 40).to_bytes(8, "little") + b"."
    _raises(_torch_zip(tmp_path / "b8.pt", bytearray8, data), "corrupt data.pkl record")
    memo = good[:2] + b"N" + b"r" + (2 ** 31).to_bytes(4, "little") + b"0" + good[2:]
    _raises(_torch_zip(tmp_path / "memo.pt", memo, data), r"corrupt data.pkl record \(ValueError: memo index")


def test_map_location_errors_pass_through_unchanged():
    def fails(storage, location):
        raise ValueError("my map_location failed")

    with pytest.raises(ValueError, match="my map_location failed"):
        ck.load(os.path.join(DATA, "torch_written.pt"), map_location=fails)


def test_refused_globals_are_checkpoint_errors(tmp_path):
    from cnnkit._torch_format import _Emitter

    em = _Emitter()
    em.global_("os", "system")
    em.out += b"(X\x04\x00\x00\x00truetR."
    p = _torch_zip(tmp_path / "evil.pt", bytes(em.out), b"")
    _raises(p, "refusing to load global 'os.system'")


def test_corrupt_safetensors_file(tmp_path):
    pytest.importorskip("safetensors")
    p = tmp_path / "w.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}")
    _raises(p, "cannot read this safetensors file")


# ----------------------------------------------------------------------------------------- corpus
def test_damaged_checkpoint_corpus(tmp_path):
    """Truncations at every 1/64, 500 seeded bit flips, random bytes and the empty file, for three cnnkit
    checkpoints (a CNN state_dict, an optimizer state_dict, a nested dict) and three PyTorch ones (zip by
    torch, zip by cnnkit, legacy): each a clean CheckpointError naming the file or a correct load (see
    tests/serialization_corpus.py for what "correct" means where a file has no checksum)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(ck.__file__)),
               OMP_NUM_THREADS="1", CNNKIT_NUM_THREADS="1")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serialization_corpus.py")
    r = subprocess.run([sys.executable, script, str(tmp_path), "500", "15"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, f"the corpus process died (rc {r.returncode}):\n{r.stderr[-3000:]}"
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["failures"] == [], summary["failures"][:20]
    assert summary["cases"] == 6 * (64 + 2 + 500)
    for label, counts in summary["per_source"].items():
        # every source sees both outcomes: flips in zip padding/timestamps load, the rest are refused
        assert counts["clean_errors"] > 0 and counts["loads"] > 0, (label, counts)


def test_same_except_clauses_as_for_torch_load(tmp_path):
    """Code that catches torch.load's errors catches ours: RuntimeError for a damaged archive,
    pickle.UnpicklingError for a refused object."""
    torch = pytest.importorskip("torch")
    p = tmp_path / "ok.pt"
    torch.save({"w": torch.arange(100.0)}, p)
    data = p.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    for loader in (lambda q: torch.load(q, weights_only=True), ck.load):
        with pytest.raises(RuntimeError):
            loader(tmp_path / "cut.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")
    for loader in (lambda q: torch.load(q, weights_only=True), ck.load):
        with pytest.raises(pickle.UnpicklingError):
            loader(tmp_path / "module.pt")
