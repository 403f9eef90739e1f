"""cnnkit.hub: downloads from a local http.server / file:// URL, hash checks, cache reuse, offline errors."""
import functools
import hashlib
import http.server
import os
import socket
import threading

import numpy as np
import pytest

import cnnkit
from cnnkit import hub
from cnnkit._torch_format import save_torch_state_dict


@pytest.fixture
def served(tmp_path):
    """A checkpoint file named with its SHA-256 prefix, served by http.server on 127.0.0.1."""
    root = tmp_path / "srv"
    root.mkdir()
    sd = {"w": cnnkit.randn(4, 3), "n": cnnkit.arange(5)}
    raw = root / "raw.pth"
    save_torch_state_dict(sd, str(raw))
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    good = root / f"net-{digest[:8]}.pth"
    raw.rename(good)
    (root / "bad-deadbeef.pth").write_bytes(good.read_bytes())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield base, good.name, sd, server
    finally:
        server.shutdown()
        server.server_close()


def test_download_with_hash_and_cache_reuse(served, tmp_path, monkeypatch):
    base, name, sd, server = served
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setattr(hub, "_hub_dir", None)
    assert hub.get_dir() == str(tmp_path / "th" / "hub")
    out = hub.load_state_dict_from_url(f"{base}/{name}", check_hash=True, progress=False)
    np.testing.assert_array_equal(out["w"].numpy(), sd["w"].numpy())
    cached = tmp_path / "th" / "hub" / "checkpoints" / name
    assert cached.is_file()
    assert [p for p in os.listdir(cached.parent) if p.endswith(".partial")] == []
    server.shutdown()  # the second call must not need the server
    again = hub.load_state_dict_from_url(f"{base}/{name}", check_hash=True, progress=True)
    np.testing.assert_array_equal(again["n"].numpy(), sd["n"].numpy())


def test_hash_mismatch_leaves_nothing(served, tmp_path):
    base, _, _, _ = served
    d = tmp_path / "models"
    with pytest.raises(RuntimeError, match='invalid hash value \\(expected "deadbeef"'):
        hub.load_state_dict_from_url(f"{base}/bad-deadbeef.pth", model_dir=str(d), check_hash=True, progress=False)
    assert os.listdir(d) == []
    # without check_hash the same file is accepted
    out = hub.load_state_dict_from_url(f"{base}/bad-deadbeef.pth", model_dir=str(d), progress=False)
    assert tuple(out["w"].shape) == (4, 3)


def test_file_url_and_file_name(served, tmp_path):
    _, name, sd, _ = served
    src = tmp_path / "srv" / name
    dst = tmp_path / "dl" / "renamed.pth"
    dst.parent.mkdir()
    hub.download_url_to_file(src.as_uri(), str(dst), hash_prefix=name.split("-")[1][:8], progress=False)
    assert dst.read_bytes() == src.read_bytes()
    out = hub.load_state_dict_from_url(src.as_uri(), model_dir=str(tmp_path / "m2"), file_name="x.pth", progress=False)
    assert sorted(out) == ["n", "w"] and (tmp_path / "m2" / "x.pth").is_file()
    from cnnkit.utils.model_zoo import load_url

    assert load_url is hub.load_state_dict_from_url


def test_unreachable_url_gives_clear_error(tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}/resnet18-f37072fd.pth"
    with pytest.raises(RuntimeError, match=r"cannot download http://127\.0\.0\.1:\d+/resnet18-f37072fd\.pth") as e:
        hub.load_state_dict_from_url(url, model_dir=str(tmp_path), check_hash=True, progress=False)
    assert "local path" in str(e.value)
    assert os.listdir(tmp_path) == []


def test_weights_enum_download_path(served, tmp_path, monkeypatch):
    """A weights member downloads through load_state_dict_from_url into the torch.hub cache."""
    base, name, sd, _ = served
    from cnnkit.vision.models import _api

    class Tiny_Weights(_api.WeightsEnum):
        V1 = _api.Weights(url=f"{base}/{name}", meta={"num_params": 17})
        DEFAULT = V1

    monkeypatch.setattr(hub, "_hub_dir", str(tmp_path / "hubdir"))
    out = Tiny_Weights.DEFAULT.get_state_dict(progress=False)
    np.testing.assert_array_equal(out["w"].numpy(), sd["w"].numpy())
    assert (tmp_path / "hubdir" / "checkpoints" / name).is_file()
    hub.set_dir(str(tmp_path / "other"))
    assert hub.get_dir() == str(tmp_path / "other")
