"""cnnkit.vision.datasets.utils and the datasets' download=True, against a local http.server.

A ThreadingHTTPServer on 127.0.0.1 serves generated files: some routes honour Range requests, one
ignores them (answers 200), one closes the connection half-way, one redirects, others are 404.
Nothing here touches the internet; a failing network is simulated by replacing ``utils._urlopen``.
"""
import gzip
import hashlib
import io
import os
import tarfile
import threading
import urllib.error
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from cnnkit.vision import datasets
from cnnkit.vision.datasets import utils
from datasets_helpers import idx_bytes, make_cifar, make_mnist_raw, md5, patch_cifar
from torchvision_helper import import_torchvision

BODY = bytes(np.random.default_rng(5).integers(0, 256, size=40_000, dtype=np.uint8))
BODY_MD5 = hashlib.md5(BODY).hexdigest()


class _Server:
    """Routes: path -> dict(body=bytes, ranges=bool, truncate=int|None, location=str|None)."""

    def __init__(self):
        self.routes, self.log = {}, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.log.append((self.path, self.headers.get("Range")))
                route = server.routes.get(self.path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                if route.get("location"):
                    self.send_response(302)
                    self.send_header("Location", route["location"])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, start, status = route["body"], 0, 200
                rng = self.headers.get("Range")
                if rng and route.get("ranges"):
                    start = int(rng.split("=")[1].split("-")[0]) + route.get("range_skew", 0)
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if route.get("truncate") is not None:
                    payload = payload[: route["truncate"]]
                    self.close_connection = True
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # A short poll interval: shutdown() waits for it at every teardown.
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def add(self, path, body, **kw):
        self.routes[path] = dict(body=body, **kw)
        return self.url + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


# ----------------------------------------------------------------------------------------------
# download_url


def test_download_url_fetches_verifies_and_skips_existing(server, tmp_path, monkeypatch):
    url = server.add("/data/file.bin", BODY, ranges=True)
    utils.download_url(url, str(tmp_path / "sub"), md5=BODY_MD5)
    path = tmp_path / "sub" / "file.bin"
    assert path.read_bytes() == BODY and not os.path.exists(str(path) + ".part")
    assert server.log == [("/data/file.bin", None)]
    monkeypatch.setattr(utils, "_urlopen", lambda *a, **k: pytest.fail("must not download again"))
    utils.download_url(url, str(tmp_path / "sub"), md5=BODY_MD5)  # present and intact: no request
    utils.download_url(url, str(tmp_path / "sub"), filename="file.bin")
    assert utils.check_integrity(str(path), BODY_MD5) and not utils.check_integrity(str(path), "0" * 32)
    assert not utils.check_integrity(str(tmp_path / "missing"))
    assert utils.calculate_md5(str(path)) == BODY_MD5 and utils.check_md5(str(path), BODY_MD5)


def test_resume_with_range(server, tmp_path):
    url = server.add("/r.bin", BODY, ranges=True)
    part = tmp_path / "r.bin.part"
    part.write_bytes(BODY[:12_345])
    utils.download_url(url, str(tmp_path), md5=BODY_MD5)
    assert server.log == [("/r.bin", "bytes=12345-")]
    assert (tmp_path / "r.bin").read_bytes() == BODY and not part.exists()


def test_restart_when_server_ignores_range(server, tmp_path):
    url = server.add("/norange.bin", BODY, ranges=False)
    (tmp_path / "norange.bin.part").write_bytes(b"\xff" * 5000)  # stale bytes must not survive
    utils.download_url(url, str(tmp_path), md5=BODY_MD5)
    assert server.log == [("/norange.bin", "bytes=5000-")]
    assert (tmp_path / "norange.bin").read_bytes() == BODY


def test_restart_when_server_answers_another_range(server, tmp_path):
    url = server.add("/skew.bin", BODY, ranges=True, range_skew=7)  # 206 for bytes N+7-: unusable
    (tmp_path / "skew.bin.part").write_bytes(BODY[:3000])
    utils.download_url(url, str(tmp_path), md5=BODY_MD5)
    assert server.log == [("/skew.bin", "bytes=3000-"), ("/skew.bin", None)]
    assert (tmp_path / "skew.bin").read_bytes() == BODY


def test_restart_after_416(server, tmp_path):
    url = server.add("/small.bin", BODY[:100], ranges=True)
    (tmp_path / "small.bin.part").write_bytes(b"x" * 500)  # longer than the file on the server
    utils.download_url(url, str(tmp_path), md5=hashlib.md5(BODY[:100]).hexdigest())
    assert server.log == [("/small.bin", "bytes=500-"), ("/small.bin", None)]
    assert (tmp_path / "small.bin").read_bytes() == BODY[:100]


def test_interrupted_download_keeps_part_and_resumes(server, tmp_path):
    url = server.add("/big.bin", BODY, ranges=True, truncate=10_000)
    with pytest.raises(RuntimeError, match=r"could not download .*big\.bin|stopped after 10000 of 40000 bytes"):
        utils.download_url(url, str(tmp_path), md5=BODY_MD5)
    part = tmp_path / "big.bin.part"
    assert part.read_bytes() == BODY[:10_000] and not (tmp_path / "big.bin").exists()
    server.routes["/big.bin"]["truncate"] = None
    utils.download_url(url, str(tmp_path), md5=BODY_MD5)
    assert server.log[-1] == ("/big.bin", "bytes=10000-")
    assert (tmp_path / "big.bin").read_bytes() == BODY and not part.exists()


def test_http_404_and_offline_errors(server, tmp_path, monkeypatch):
    url = server.url + "/nope.bin"
    with pytest.raises(RuntimeError, match="HTTP Error 404") as e:
        utils.download_url(url, str(tmp_path))
    assert url in str(e.value) and str(tmp_path / "nope.bin") in str(e.value) and "place it at" in str(e.value)
    assert not list(tmp_path.iterdir())

    def fail(request, *a, **k):
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(utils, "_urlopen", fail)
    with pytest.raises(RuntimeError, match=r"could not download http://example\.invalid/x\.gz "
                                           r"\(network is unreachable \(test\)\).*offline.*place it at") as e:
        utils.download_url("http://example.invalid/x.gz", str(tmp_path))
    assert str(tmp_path / "x.gz") in str(e.value)


def test_md5_mismatch_removes_file(server, tmp_path):
    url = server.add("/bad.bin", BODY)
    with pytest.raises(RuntimeError, match=f"corrupted: MD5 {BODY_MD5}, expected {'0' * 32}"):
        utils.download_url(url, str(tmp_path), md5="0" * 32)
    assert not list(tmp_path.iterdir())


def test_redirects(server, tmp_path):
    server.add("/final.bin", BODY)
    url = server.add("/moved.bin", b"", location="/final.bin")
    utils.download_url(url, str(tmp_path), md5=BODY_MD5)
    assert (tmp_path / "moved.bin").read_bytes() == BODY
    hop1 = server.add("/hop1", b"", location="/hop2")
    server.add("/hop2", b"", location="/final.bin")
    with pytest.raises(RuntimeError, match="could not download"):
        utils.download_url(hop1, str(tmp_path / "limited"), max_redirect_hops=1)
    loop = server.add("/loop", b"", location="/loop")
    with pytest.raises(RuntimeError, match="could not download .*loop"):
        utils.download_url(loop, str(tmp_path / "l"))


# ----------------------------------------------------------------------------------------------
# extract_archive


def _tar(path, members, mode):
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("suffix,mode", [(".tar", "w"), (".tar.gz", "w:gz"), (".tgz", "w:gz"),
                                         (".tar.bz2", "w:bz2"), (".tar.xz", "w:xz")])
def test_extract_tar(tmp_path, suffix, mode):
    archive = str(tmp_path / f"a{suffix}")
    _tar(archive, {"top/one.txt": b"1", "top/deep/two.bin": BODY[:50]}, mode)
    out = utils.extract_archive(archive, str(tmp_path / "out"))
    assert out == str(tmp_path / "out") and isinstance(out, str)
    assert (tmp_path / "out/top/deep/two.bin").read_bytes() == BODY[:50]
    out = utils.extract_archive(tmp_path / f"a{suffix}", remove_finished=True)  # default: next to it
    assert out == tmp_path and (tmp_path / "top/one.txt").read_bytes() == b"1" and not os.path.exists(archive)


def test_extract_zip_gz_and_bad_archives(tmp_path):
    zpath = tmp_path / "a.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("gzip/x.gz", gzip.compress(b"hello"))
    utils.extract_archive(str(zpath), str(tmp_path / "z"))
    got = utils.extract_archive(str(tmp_path / "z/gzip/x.gz"), str(tmp_path / "z"))
    assert got == str(tmp_path / "z" / "x") and (tmp_path / "z/x").read_bytes() == b"hello"
    assert not (tmp_path / "z/x.part").exists()
    gz = tmp_path / "raw.bin.gz"
    gz.write_bytes(gzip.compress(BODY))
    assert utils.extract_archive(str(gz), remove_finished=True) == str(tmp_path / "raw.bin")
    assert (tmp_path / "raw.bin").read_bytes() == BODY and not gz.exists()
    # corrupt / truncated compressed file: RuntimeError, nothing left under the target name
    bad = tmp_path / "bad.bin.gz"
    bad.write_bytes(gzip.compress(BODY)[:-100])
    with pytest.raises(RuntimeError, match="bad.bin.gz is not a valid .gz file"):
        utils.extract_archive(str(bad))
    assert not (tmp_path / "bad.bin").exists() and not (tmp_path / "bad.bin.part").exists()
    with pytest.raises(RuntimeError, match="Unknown compression or archive type: '.rar'"):
        utils.extract_archive(str(tmp_path / "x.rar"))
    with pytest.raises(RuntimeError, match="has no suffixes"):
        utils.extract_archive(str(tmp_path / "noext"))
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../escaped.txt", b"x")
    with pytest.raises(RuntimeError, match=r"evil.zip has an unsafe member '\.\./\.\./escaped.txt'"):
        utils.extract_archive(str(evil), str(tmp_path / "e"))
    assert not (tmp_path.parent / "escaped.txt").exists() and not (tmp_path / "e").exists()
    evil_tar = str(tmp_path / "evil.tar")
    _tar(evil_tar, {"../outside.txt": b"x"}, "w")
    with pytest.raises(RuntimeError, match="evil.tar"):
        utils.extract_archive(evil_tar, str(tmp_path / "t"))
    assert not (tmp_path / "outside.txt").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    with pytest.raises(RuntimeError, match="cannot extract .*junk.tar.gz"):
        utils.extract_archive(str(tmp_path / "junk.tar.gz"))


def test_verify_str_arg_and_listing_match_torchvision(tmp_path):
    with pytest.raises(ValueError, match=r"Unknown value 'c' for argument x. Valid values are \{'a', 'b'\}."):
        utils.verify_str_arg("c", "x", ("a", "b"))
    with pytest.raises(ValueError, match="Expected type str for argument x, but got type <class 'int'>."):
        utils.verify_str_arg(1, "x", ("a",))
    assert utils.verify_str_arg("a", "x", ("a", "b")) == "a"
    (tmp_path / "d").mkdir()
    (tmp_path / "f.txt").write_text("x")
    assert utils.list_dir(str(tmp_path)) == ["d"] and utils.list_files(str(tmp_path), ".txt") == ["f.txt"]
    assert utils.list_files(str(tmp_path), ".txt", prefix=True) == [os.path.join(str(tmp_path), "f.txt")]
    tv = import_torchvision()
    from torchvision.datasets import utils as tvu
    for args in (("c", "x", ("a", "b")), (3, "x", None), (3, None, None)):
        with pytest.raises(ValueError) as ours:
            utils.verify_str_arg(*args)
        with pytest.raises(ValueError) as theirs:
            tvu.verify_str_arg(*args)
        assert str(ours.value) == str(theirs.value)
    for name in ("a.tar.gz", "a.tgz", "a.gz", "a.zip", "a.tar.xz", "b.tar.bz2"):
        assert utils._detect_file_type(name) == tvu._detect_file_type(name)


def test_download_and_extract_archive(server, tmp_path):
    tpath = tmp_path / "src.tar.gz"
    _tar(str(tpath), {"pkg/a.txt": b"alpha"}, "w:gz")
    url = server.add("/files/pkg.tar.gz", tpath.read_bytes(), ranges=True)
    utils.download_and_extract_archive(url, str(tmp_path / "dl"), extract_root=str(tmp_path / "ex"),
                                       md5=md5(str(tpath)), remove_finished=True)
    assert (tmp_path / "ex/pkg/a.txt").read_bytes() == b"alpha" and not (tmp_path / "dl/pkg.tar.gz").exists()


# ----------------------------------------------------------------------------------------------
# download=True of the datasets


def _serve_mnist(server, tmp_path, name="MNIST"):
    src = tmp_path / "src"
    raw, arrays = make_mnist_raw(str(src), name=name, compress=True, keep_raw=False)
    resources = []
    for fname in sorted(os.listdir(raw)):
        server.add(f"/good/{fname}", open(os.path.join(raw, fname), "rb").read(), ranges=True)
        resources.append((fname, md5(os.path.join(raw, fname))))
    return resources, arrays


def test_mnist_download_mirrors_and_no_redownload(server, tmp_path, monkeypatch):
    resources, arrays = _serve_mnist(server, tmp_path)
    monkeypatch.setattr(datasets.MNIST, "resources", resources)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [server.url + "/missing/", server.url + "/good/"])
    root = str(tmp_path / "root")
    ds = datasets.MNIST(root, train=True, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), arrays["train"][0])
    raw = os.path.join(root, "MNIST", "raw")
    assert sorted(os.listdir(raw)) == sorted([f for f, _ in resources] + [f[:-3] for f, _ in resources])
    assert sum(1 for p, _ in server.log if p.startswith("/missing/")) == 4  # every file tried the 1st mirror
    calls = []
    monkeypatch.setattr(utils, "_urlopen", lambda req, *a, **k: calls.append(req) or pytest.fail("network"))
    again = datasets.MNIST(root, train=False, download=True)  # all present: nothing fetched
    np.testing.assert_array_equal(again.targets.numpy(), arrays["t10k"][1])
    assert calls == []
    # Only the (intact) .gz files present: download=True extracts them (torchvision's layout) without
    # any request.
    for f, _ in resources:
        os.remove(os.path.join(raw, f[:-3]))
    datasets.MNIST(root, download=True)
    assert all(os.path.isfile(os.path.join(raw, f[:-3])) for f, _ in resources) and calls == []


def test_mnist_download_all_mirrors_fail(server, tmp_path, monkeypatch):
    monkeypatch.setattr(datasets.FashionMNIST, "mirrors", [server.url + "/a/", server.url + "/b/"])
    root = str(tmp_path)
    with pytest.raises(RuntimeError) as e:
        datasets.FashionMNIST(root, download=True)
    msg = str(e.value)
    assert "Error downloading train-images-idx3-ubyte.gz" in msg
    assert f"Tried {server.url}/a/" in msg and f"Tried {server.url}/b/" in msg and "HTTP Error 404" in msg
    assert os.path.join(root, "FashionMNIST", "raw") in msg and "place train-images-idx3-ubyte.gz" in msg


def test_mnist_download_md5_mismatch_tries_next_mirror(server, tmp_path, monkeypatch):
    resources, arrays = _serve_mnist(server, tmp_path, name="KMNIST")
    for fname, _ in resources:  # mirror "bad" serves corrupted copies
        server.add(f"/bad/{fname}", b"corrupt" + server.routes[f"/good/{fname}"]["body"])
    monkeypatch.setattr(datasets.KMNIST, "resources", resources)
    monkeypatch.setattr(datasets.KMNIST, "mirrors", [server.url + "/bad/", server.url + "/good/"])
    ds = datasets.KMNIST(str(tmp_path / "r"), train=False, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), arrays["t10k"][0])


def test_mnist_download_false_and_torchvision_reads_our_download(server, tmp_path, monkeypatch):
    resources, arrays = _serve_mnist(server, tmp_path)
    monkeypatch.setattr(datasets.MNIST, "resources", resources)
    monkeypatch.setattr(datasets.MNIST, "mirrors", [server.url + "/good/"])
    root = str(tmp_path / "root")
    with pytest.raises(RuntimeError, match="Dataset not found. You can use download=True to download it"):
        datasets.MNIST(root)
    datasets.MNIST(root, download=True)
    tv = import_torchvision()
    theirs = tv.datasets.MNIST(root)  # the layout we wrote is torchvision's
    np.testing.assert_array_equal(theirs.data.numpy(), arrays["train"][0])


def test_emnist_download_zip(server, tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    buf = io.BytesIO()
    arrays = {}
    with zipfile.ZipFile(buf, "w") as z:
        for split in ("balanced", "letters"):
            for part in ("train", "test"):
                imgs = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
                labs = rng.integers(0, 10, size=3).astype(np.uint8)
                arrays[split, part] = imgs, labs
                z.writestr(f"gzip/emnist-{split}-{part}-images-idx3-ubyte.gz", gzip.compress(idx_bytes(imgs)))
                z.writestr(f"gzip/emnist-{split}-{part}-labels-idx1-ubyte.gz", gzip.compress(idx_bytes(labs)))
    url = server.add("/EMNIST/gzip.zip", buf.getvalue(), ranges=True)
    monkeypatch.setattr(datasets.EMNIST, "url", url)
    monkeypatch.setattr(datasets.EMNIST, "md5", hashlib.md5(buf.getvalue()).hexdigest())
    ds = datasets.EMNIST(str(tmp_path), "letters", train=False, download=True)
    np.testing.assert_array_equal(ds.data.numpy(), arrays["letters", "test"][0])
    raw = tmp_path / "EMNIST" / "raw"
    assert not (raw / "gzip").exists() and (raw / "emnist-balanced-train-images-idx3-ubyte").is_file()
    n = len(server.log)
    datasets.EMNIST(str(tmp_path), "balanced", download=True)
    assert len(server.log) == n
    monkeypatch.setattr(datasets.EMNIST, "url", server.url + "/gone.zip")
    with pytest.raises(RuntimeError, match="(?s)Error downloading EMNIST: tried .*gone.zip.*emnist-\\*.gz files in"):
        datasets.EMNIST(str(tmp_path / "other"), "digits", download=True)


def test_cifar_download(server, tmp_path, monkeypatch):
    src = tmp_path / "src"
    sums, (tr_x, tr_y), _, names = make_cifar(str(src))
    tpath = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tpath, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    patch_cifar(monkeypatch, datasets.CIFAR10, sums)
    monkeypatch.setattr(datasets.CIFAR10, "url", server.add("/c/cifar-10-python.tar.gz", tpath.read_bytes()))
    monkeypatch.setattr(datasets.CIFAR10, "tgz_md5", md5(str(tpath)))
    root = str(tmp_path / "root")
    with pytest.raises(RuntimeError, match="Dataset not found or corrupted"):
        datasets.CIFAR10(root)
    ds = datasets.CIFAR10(root, download=True)
    np.testing.assert_array_equal(ds.data, tr_x)
    assert ds.targets == tr_y and ds.classes == names and len(server.log) == 1
    datasets.CIFAR10(root, train=False, download=True)  # intact: no second request
    assert len(server.log) == 1


def test_svhn_download(server, tmp_path, monkeypatch):
    sio = pytest.importorskip("scipy.io")
    x = np.random.default_rng(0).integers(0, 256, size=(32, 32, 3, 2), dtype=np.uint8)
    mat = tmp_path / "m.mat"
    sio.savemat(str(mat), {"X": x, "y": np.array([[10], [3]], np.uint8)})
    url = server.add("/svhn/test_32x32.mat", mat.read_bytes(), ranges=True)
    table = {k: list(v) for k, v in datasets.SVHN.split_list.items()}
    table["test"] = [url, "test_32x32.mat", md5(str(mat))]
    monkeypatch.setattr(datasets.SVHN, "split_list", table)
    ds = datasets.SVHN(str(tmp_path / "r"), split="test", download=True)
    assert ds.labels.tolist() == [0, 3] and len(server.log) == 1
    datasets.SVHN(str(tmp_path / "r"), split="test", download=True)
    assert len(server.log) == 1
