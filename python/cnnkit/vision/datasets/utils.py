"""Download, integrity and archive helpers (torchvision.datasets.utils' names and signatures).

Downloads use urllib only and are
  * atomic: bytes stream into ``<file>.part``, which is flushed, fsync'ed and moved to ``<file>``
    with ``os.replace`` -- an interrupted download never leaves a file under the final name;
  * resumable: an existing ``<file>.part`` is continued with an HTTP ``Range`` request; a server
    that answers 200 (no range support) or 416 restarts the file from zero;
  * verified: with ``md5`` the finished file must match, else it is removed and RuntimeError says so.
Network and HTTP failures raise RuntimeError naming the URL and the path where the file can be
placed by hand. Extraction writes decompressed files atomically too and refuses tar/zip members
that would land outside the target folder.
"""
import bz2
import gzip
import hashlib
import http.client
import lzma
import os
import pathlib
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile

__all__ = [
    "calculate_md5", "check_md5", "check_integrity", "download_url", "download_and_extract_archive",
    "extract_archive", "list_dir", "list_files", "iterable_to_str", "verify_str_arg", "USER_AGENT",
]

USER_AGENT = "cnnkit/vision"
_CHUNK = 1024 * 1024
_TIMEOUT = 60.0  # seconds without data before a request gives up (never hang forever)


def calculate_md5(fpath, chunk_size=1024 * 1024):
    """Hex MD5 of a file, read in chunks (MD5 here is a checksum, not security)."""
    md5 = hashlib.md5(usedforsecurity=False)
    with open(fpath, "rb") as f:
        while chunk := f.read(chunk_size):
            md5.update(chunk)
    return md5.hexdigest()


def check_md5(fpath, md5, **kwargs):
    return md5 == calculate_md5(fpath, **kwargs)


def check_integrity(fpath, md5=None):
    """True when ``fpath`` is a file and, if ``md5`` is given, its MD5 equals it."""
    if not os.path.isfile(fpath):
        return False
    if md5 is None:
        return True
    return check_md5(fpath, md5)


# ---------------------------------------------------------------------------------------------
# Downloading


class _LimitedRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handler with torchvision's ``max_redirect_hops`` limit."""

    def __init__(self, max_hops):
        super().__init__()
        self.max_redirections = max_hops
        self.max_repeats = min(self.max_repeats, max_hops)


def _urlopen(request, max_redirect_hops=3, timeout=_TIMEOUT):
    """Opens a request (module-level so tests can replace the network with a failing opener)."""
    opener = urllib.request.build_opener(_LimitedRedirects(max_redirect_hops))
    return opener.open(request, timeout=timeout)


def _fsync_dir(path):
    """Makes a rename durable (best effort: not every platform/filesystem allows it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _content_range_start(response):
    """First byte offset of a 206 answer's ``Content-Range: bytes a-b/n`` header, else None."""
    value = response.headers.get("Content-Range", "")
    unit, _, rest = value.partition(" ")
    if unit.strip().lower() != "bytes":
        return None
    start = rest.partition("-")[0].strip()
    return int(start) if start.isdigit() else None


def _urlretrieve(url, fpath, max_redirect_hops=3, progress=True):
    """Streams ``url`` into ``fpath + '.part'`` (continuing it when possible), then moves it to ``fpath``."""
    from ...hub import _Progress

    part = os.fspath(fpath) + ".part"
    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    response = None
    try:
        response = _urlopen(urllib.request.Request(url, headers=headers), max_redirect_hops)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not offset:
            raise
        e.close()  # 416: the range lies past the server's file (a stale or foreign .part)
    status = None if response is None else (getattr(response, "status", None) or response.getcode())
    if offset and response is not None and status == 206 and _content_range_start(response) != offset:
        response.close()  # a partial answer for some other range: unusable
        response = None
    if response is None:  # start again from zero, without Range
        os.remove(part)
        offset = 0
        headers.pop("Range")
        response = _urlopen(urllib.request.Request(url, headers=headers), max_redirect_hops)
        status = getattr(response, "status", None) or response.getcode()
    with response:
        resume = offset > 0 and status == 206
        if not resume:
            offset = 0  # the server sent the whole file (it ignores Range): restart
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        bar = _Progress(None if expected is None else expected + offset, progress)
        bar.update(offset)
        received = 0
        try:
            with open(part, "ab" if resume else "wb") as fh:
                while chunk := response.read(_CHUNK):
                    fh.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            bar.close()
    if expected is not None and received < expected:
        # The connection closed early: keep the .part so that the next call resumes it.
        raise RuntimeError(f"download of {url} stopped after {offset + received} of {offset + expected} bytes; "
                           f"the partial file {part} is kept and the next download resumes it")
    os.replace(part, fpath)
    _fsync_dir(os.path.dirname(os.path.abspath(fpath)))


def download_url(url, root, filename=None, md5=None, max_redirect_hops=3):
    """Downloads ``url`` to ``root/filename`` (default: the URL's base name), unless a file with the
    right MD5 is already there. RuntimeError when the download fails or its MD5 does not match."""
    root = os.path.expanduser(os.fspath(root))
    if not filename:
        filename = os.path.basename(url)
    fpath = os.fspath(os.path.join(root, filename))
    os.makedirs(root, exist_ok=True)

    if check_integrity(fpath, md5):
        return
    try:
        _urlretrieve(url, fpath, max_redirect_hops)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:  # HTTPError: URLError
        reason = f"HTTP Error {e.code}: {e.reason}" if isinstance(e, urllib.error.HTTPError) \
            else getattr(e, "reason", None) or e
        raise RuntimeError(f"download_url: could not download {url} ({reason}). If this machine is offline, "
                           f"fetch the file elsewhere and place it at {fpath}") from e
    if not check_integrity(fpath, md5):
        actual = calculate_md5(fpath)
        os.remove(fpath)
        raise RuntimeError(f"download_url: the file downloaded from {url} is corrupted: MD5 {actual}, expected "
                           f"{md5}; it was removed. Try again, or place a good copy at {fpath}")


def download_and_extract_archive(url, download_root, extract_root=None, filename=None, md5=None,
                                 remove_finished=False):
    """``download_url`` then ``extract_archive`` into ``extract_root`` (default: ``download_root``)."""
    download_root = os.path.expanduser(os.fspath(download_root))
    if extract_root is None:
        extract_root = download_root
    if not filename:
        filename = os.path.basename(url)
    download_url(url, download_root, filename, md5)
    extract_archive(os.path.join(download_root, filename), extract_root, remove_finished)


# ---------------------------------------------------------------------------------------------
# Archives

_COMPRESSED_FILE_OPENERS = {".bz2": bz2.open, ".gz": gzip.open, ".xz": lzma.open}
_ARCHIVE_TYPES = (".tar", ".zip")
_FILE_TYPE_ALIASES = {".tbz": (".tar", ".bz2"), ".tbz2": (".tar", ".bz2"), ".tgz": (".tar", ".gz")}


def _detect_file_type(file):
    """(suffix, archive type or None, compression or None) from the file name, as torchvision."""
    suffixes = pathlib.Path(file).suffixes
    if not suffixes:
        raise RuntimeError(f"File '{file}' has no suffixes that could be used to detect the archive type and "
                           "compression.")
    suffix = suffixes[-1]
    if suffix in _FILE_TYPE_ALIASES:
        return (suffix, *_FILE_TYPE_ALIASES[suffix])
    if suffix in _ARCHIVE_TYPES:
        return suffix, suffix, None
    if suffix in _COMPRESSED_FILE_OPENERS:
        if len(suffixes) > 1 and suffixes[-2] in _ARCHIVE_TYPES:
            return suffixes[-2] + suffix, suffixes[-2], suffix
        return suffix, None, suffix
    valid = sorted(set(_FILE_TYPE_ALIASES) | set(_ARCHIVE_TYPES) | set(_COMPRESSED_FILE_OPENERS))
    raise RuntimeError(f"Unknown compression or archive type: '{suffix}'.\nKnown suffixes are: '{valid}'.")


def _inside(base, target):
    base = os.path.realpath(base)
    return os.path.commonpath([base, os.path.realpath(target)]) == base


def _extract_tar(from_path, to_path, compression):
    with tarfile.open(from_path, f"r:{compression[1:]}" if compression else "r") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(to_path, filter="data")  # refuses absolute paths, '..', device files, bad links
        else:  # Python < 3.11.4: check the member names ourselves
            for member in tar.getmembers():
                if not _inside(to_path, os.path.join(to_path, member.name)) or member.isdev():
                    raise RuntimeError(f"extract_archive: {from_path} has an unsafe member {member.name!r}")
            tar.extractall(to_path)


def _extract_zip(from_path, to_path, compression):
    with zipfile.ZipFile(from_path, "r") as archive:
        for name in archive.namelist():
            if not _inside(to_path, os.path.join(to_path, name)):
                raise RuntimeError(f"extract_archive: {from_path} has an unsafe member {name!r}")
        archive.extractall(to_path)


def _decompress(from_path, to_path=None, remove_finished=False):
    """Decompresses one .gz/.bz2/.xz file (streamed, through ``<to_path>.part`` then os.replace)."""
    suffix, archive_type, compression = _detect_file_type(from_path)
    if not compression:
        raise RuntimeError(f"Couldn't detect a compression from suffix {suffix}.")
    if to_path is None:
        to_path = os.fspath(from_path).replace(suffix, archive_type if archive_type is not None else "")
    part = os.fspath(to_path) + ".part"
    try:
        with _COMPRESSED_FILE_OPENERS[compression](from_path, "rb") as rfh, open(part, "wb") as wfh:
            shutil.copyfileobj(rfh, wfh, _CHUNK)
            wfh.flush()
            os.fsync(wfh.fileno())
    except Exception as e:  # OSError, EOFError, zlib.error, lzma.LZMAError...: a corrupt or truncated file
        if os.path.exists(part):
            os.remove(part)
        raise RuntimeError(f"extract_archive: {from_path} is not a valid {compression} file: {e}") from e
    os.replace(part, to_path)
    if remove_finished:
        os.remove(from_path)
    return pathlib.Path(to_path)


def extract_archive(from_path, to_path=None, remove_finished=False):
    """Extracts a .tar(.gz/.bz2/.xz), .tgz or .zip archive into ``to_path`` (default: the archive's
    folder), or decompresses a single .gz/.bz2/.xz file there. Returns the folder (or the
    decompressed file), as ``str`` when ``from_path`` was a ``str``."""
    def path_or_str(p):
        return os.fspath(p) if isinstance(from_path, str) else pathlib.Path(p)

    if to_path is None:
        to_path = os.path.dirname(from_path)
    suffix, archive_type, compression = _detect_file_type(from_path)
    if not archive_type:
        out = _decompress(from_path, os.path.join(to_path, os.path.basename(from_path).replace(suffix, "")),
                          remove_finished=remove_finished)
        return path_or_str(out)
    try:
        if archive_type == ".tar":
            _extract_tar(from_path, to_path, compression)
        else:
            _extract_zip(from_path, to_path, compression)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, lzma.LZMAError) as e:
        raise RuntimeError(f"extract_archive: cannot extract {from_path}: {e}") from e
    if remove_finished:
        os.remove(from_path)
    return path_or_str(to_path)


# ---------------------------------------------------------------------------------------------
# Small helpers torchvision's datasets share


def list_dir(root, prefix=False):
    """Names (or paths, with ``prefix``) of the folders in ``root``."""
    root = os.path.expanduser(root)
    dirs = [p for p in os.listdir(root) if os.path.isdir(os.path.join(root, p))]
    return [os.path.join(root, d) for d in dirs] if prefix else dirs


def list_files(root, suffix, prefix=False):
    """Names (or paths, with ``prefix``) of the files in ``root`` ending with ``suffix``."""
    root = os.path.expanduser(root)
    files = [p for p in os.listdir(root) if os.path.isfile(os.path.join(root, p)) and p.endswith(suffix)]
    return [os.path.join(root, f) for f in files] if prefix else files


def iterable_to_str(iterable):
    return "'" + "', '".join(str(item) for item in iterable) + "'"


def verify_str_arg(value, arg=None, valid_values=None, custom_msg=None):
    """Returns ``value`` if it is a str among ``valid_values``; ValueError otherwise (torchvision's text)."""
    if not isinstance(value, str):
        where = "" if arg is None else f" for argument {arg}"
        raise ValueError(f"Expected type str{where}, but got type {type(value)}.")
    if valid_values is None:
        return value
    if value not in valid_values:
        msg = custom_msg if custom_msg is not None else (
            f"Unknown value '{value}' for argument {arg}. Valid values are {{{iterable_to_str(valid_values)}}}.")
        raise ValueError(msg)
    return value
