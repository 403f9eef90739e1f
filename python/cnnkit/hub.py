"""cnnkit.hub: downloading checkpoints into torch.hub's cache, as ``torch.hub`` does.

The cache is torch's own (``$TORCH_HOME/hub/checkpoints``, else ``$XDG_CACHE_HOME/torch/hub/...``,
else ``~/.cache/torch/hub/checkpoints``), so files torch or torchvision already downloaded are
reused and vice versa. A download streams into a temporary file in the destination folder, checks
the SHA-256 prefix that the file name carries (``resnet18-f37072fd.pth``: the digest starts with
``f37072fd``, torch.hub's ``check_hash`` convention), and is moved into place with ``os.replace``,
so an interrupted or corrupt download never leaves a file under the final name.
"""
import hashlib
import os
import re
import sys
import uuid
from urllib.error import URLError
from urllib.parse import urlparse
from urllib.request import Request, urlopen

__all__ = ["get_dir", "set_dir", "download_url_to_file", "load_state_dict_from_url"]

HASH_REGEX = re.compile(r"-([a-f0-9]*)\.")
_READ_CHUNK = 128 * 1024
_hub_dir = None


def _get_torch_home():
    return os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"),
                                                                    "torch")))


def get_dir():
    """The hub folder: ``set_dir``'s value, else ``$TORCH_HOME/hub`` (torch.hub's default)."""
    if _hub_dir is not None:
        return _hub_dir
    return os.path.join(_get_torch_home(), "hub")


def set_dir(d):
    """Sets the hub folder for this process (checkpoints then go to ``<d>/checkpoints``)."""
    global _hub_dir
    _hub_dir = os.path.expanduser(os.fspath(d))


class _Progress:
    """tqdm when installed (``cnnkit[progress]``), else a percentage line on stderr."""

    def __init__(self, total, enabled):
        self.total, self.done, self.enabled, self.bar = total, 0, enabled, None
        if enabled:
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024)
            except ImportError:
                pass

    def update(self, n):
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.enabled:
            if self.total:
                sys.stderr.write(f"\r{self.done / 2**20:8.1f} / {self.total / 2**20:.1f} MiB "
                                 f"({100.0 * self.done / self.total:5.1f}%)")
            else:
                sys.stderr.write(f"\r{self.done / 2**20:8.1f} MiB")

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


def download_url_to_file(url, dst, hash_prefix=None, progress=True):
    """Downloads ``url`` to the path ``dst``. With ``hash_prefix``, the file's SHA-256 hex digest must
    start with it, else RuntimeError and nothing is left at ``dst``. Supports http(s):// and file://."""
    dst = os.path.expanduser(os.fspath(dst))
    dst_dir = os.path.dirname(os.path.abspath(dst))
    tmp = os.path.join(dst_dir, f".{os.path.basename(dst)}.{uuid.uuid4().hex}.partial")
    req = Request(url, headers={"User-Agent": "cnnkit.hub"})
    try:
        with open(tmp, "xb") as f:
            try:
                u = urlopen(req, timeout=60)
            except (URLError, OSError, ValueError) as e:
                reason = getattr(e, "reason", e)
                raise RuntimeError(
                    f"cannot download {url} ({reason}). If this machine is offline, download the file "
                    f"elsewhere and pass its local path instead (e.g. weights='/path/to/"
                    f"{os.path.basename(urlparse(url).path)}'), or copy it to {dst}.") from e
            with u:
                length = u.headers.get("Content-Length") if getattr(u, "headers", None) else None
                bar = _Progress(int(length) if length and length.isdigit() else None, progress)
                sha = hashlib.sha256() if hash_prefix is not None else None
                try:
                    while True:
                        buf = u.read(_READ_CHUNK)
                        if not buf:
                            break
                        f.write(buf)
                        if sha is not None:
                            sha.update(buf)
                        bar.update(len(buf))
                finally:
                    bar.close()
        if sha is not None:
            digest = sha.hexdigest()
            if digest[: len(hash_prefix)] != hash_prefix:
                raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "{digest}") for {url}; '
                                   "the download is corrupt or the file changed on the server")
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_state_dict_from_url(url, model_dir=None, map_location=None, progress=True, check_hash=False,
                             file_name=None, weights_only=True):
    """Returns the checkpoint at ``url``, downloading it into ``model_dir`` (default
    ``<hub_dir>/checkpoints``) unless a file of that name is already there. ``check_hash``: verify the
    SHA-256 prefix in the file name on download. The file is read with ``cnnkit.load`` (torch zip
    checkpoints, ``.safetensors`` and cnnkit's own format; never executing code, whatever
    ``weights_only`` says). A torch.hub-era single-file zip is not unpacked (not supported)."""
    from .serialization import load

    if model_dir is None:
        model_dir = os.path.join(get_dir(), "checkpoints")
    os.makedirs(model_dir, exist_ok=True)
    filename = file_name if file_name is not None else os.path.basename(urlparse(url).path)
    if not filename:
        raise ValueError(f"load_state_dict_from_url: no file name in {url!r}; pass file_name=")
    cached = os.path.join(model_dir, filename)
    if not os.path.exists(cached):
        sys.stderr.write(f'Downloading: "{url}" to {cached}\n')
        hash_prefix = None
        if check_hash:
            r = HASH_REGEX.search(filename)
            hash_prefix = r.group(1) if r else None
        download_url_to_file(url, cached, hash_prefix, progress=progress)
    return load(cached, map_location=map_location)

