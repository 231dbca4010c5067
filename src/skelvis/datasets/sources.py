"""The ``source`` stage: raw data from an http URL (with sha256) or a local path, made safe.

* :func:`fetch_http` downloads ``url`` to ``dest`` with retries, checks its sha256 and renames
  the file into place only when the checksum matches: a mismatch or an interrupted transfer
  leaves nothing at ``dest``.
* :func:`safe_extract` unpacks a zip or tar archive and refuses members that would land outside
  the target folder (zip-slip, absolute paths, ``..``, links pointing outside).
* :func:`stage_local` makes a user's own file or folder available under ``resources/{dataset}/``,
  or stops with one line saying where to get it and where to put it.
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from ..errors import DataFormatError, SourceError
from ..settings import DatasetConfig

__all__ = [
    "PLACEHOLDER_SHA256",
    "SourceError",
    "fetch_http",
    "is_archive",
    "raw_files",
    "safe_extract",
    "sha256_file",
    "stage_local",
    "stage_raw",
]

log = logging.getLogger("skelvis.sources")

#: The value a config carries when the file's checksum is not known yet (the user fills it in).
PLACEHOLDER_SHA256 = "FILL_ME"


def sha256_file(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha(sha256: str | None, url: str, key: str) -> str:
    s = (sha256 or "").strip().lower()
    if not s or s == PLACEHOLDER_SHA256.lower() or len(s) != 64 or any(c not in "0123456789abcdef" for c in s):
        raise SourceError(
            f"config key '{key}': no valid sha256 for {url} (got {sha256!r}); download the file once "
            f"yourself, run `sha256sum <file>` and put the 64 hex digits in the config "
            f"(a download without a checksum is refused)")
    return s


def fetch_http(url: str, dest, sha256: str | None, retries: int = DatasetConfig.retries, timeout: float = 60.0,
               backoff: float = 1.0, key: str = "data.<dataset>.sha256") -> Path:
    """Download ``url`` to ``dest`` (atomic), retrying ``retries`` times; verify ``sha256``.

    A transfer that ends early (fewer bytes than Content-Length, connection reset) is retried;
    a checksum mismatch is not (the server gave a complete but different file) and raises
    :class:`SourceError` with nothing left at ``dest``.
    """
    want = _check_sha(sha256, url, key)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part{os.getpid()}")
    last: BaseException | None = None
    try:
        for attempt in range(1, retries + 2):
            try:
                h = hashlib.sha256()
                n = 0
                with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
                    expected = r.headers.get("Content-Length")
                    for block in iter(lambda: r.read(1 << 20), b""):
                        f.write(block)
                        h.update(block)
                        n += len(block)
                if expected is not None and n != int(expected):
                    raise OSError(f"transfer interrupted: got {n} of {expected} bytes")
                got = h.hexdigest()
                if got != want:
                    raise SourceError(f"{url}: sha256 mismatch: expected {want}, got {got} ({n} bytes); "
                                      f"the file changed upstream or the config's sha256 is wrong")
                os.replace(tmp, dest)
                log.info("downloaded %s (%d bytes, sha256 %s) -> %s", url, n, got, dest)
                return dest
            except SourceError:
                raise
            except (OSError, urllib.error.URLError, ValueError) as e:  # includes HTTPError, timeouts
                last = e
                log.warning("download %s failed (attempt %d/%d): %s", url, attempt, retries + 1, e)
                if isinstance(e, urllib.error.HTTPError) and 400 <= e.code < 500 and e.code != 429:
                    break
                if attempt <= retries:
                    time.sleep(backoff * attempt)
        raise SourceError(f"{url}: download failed after {retries + 1} attempt(s): {last}; "
                          f"check the URL and your network, or download it yourself and use a 'local' source")
    finally:
        tmp.unlink(missing_ok=True)


def is_archive(path) -> bool:
    p = str(path).lower()
    return p.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def _inside(root: Path, target: Path) -> bool:
    try:
        target.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False


def safe_extract(archive, dest) -> Path:
    """Extract a zip/tar ``archive`` into ``dest``; refuse any member that escapes ``dest``.

    The whole member list is checked before anything is written, so a refused archive leaves
    ``dest`` untouched.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    name = archive.name.lower()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            for m in z.infolist():
                if os.path.isabs(m.filename) or not _inside(dest, dest / m.filename):
                    raise SourceError(f"{archive}: member {m.filename!r} would land outside {dest}; "
                                      f"refusing to extract (zip-slip)")
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            members = t.getmembers()
            for m in members:
                if os.path.isabs(m.name) or not _inside(dest, dest / m.name):
                    raise SourceError(f"{archive}: member {m.name!r} would land outside {dest}; "
                                      f"refusing to extract (path traversal)")
                if m.issym() or m.islnk():
                    link = (dest / m.name).parent / m.linkname if m.issym() else dest / m.linkname
                    if os.path.isabs(m.linkname) or not _inside(dest, link):
                        raise SourceError(f"{archive}: link {m.name!r} -> {m.linkname!r} points outside "
                                          f"{dest}; refusing to extract")
                if m.isdev():
                    raise SourceError(f"{archive}: member {m.name!r} is a device file; refusing to extract")
            t.extractall(dest, members=members, filter="data")
    return dest


def stage_local(path, out_dir, dataset: str, obtain: str = "") -> Path:
    """Make the user's ``path`` (folder or archive) available as ``out_dir`` (a folder).

    A folder is linked (``out_dir/<name>`` -> the folder, nothing copied); an archive is
    extracted safely. A missing path raises :class:`SourceError` saying where to get the data
    and where to put it.
    """
    src = Path(path)
    if not src.exists():
        where = obtain or "see the dataset's documentation"
        raise SourceError(
            f"data.{dataset}.path: {src} does not exist (looked in {src.absolute()}). "
            f"Where to get it: {where}. Where to put it: at that path (relative to the folder you run "
            f"snakemake in), or set data.{dataset}.path to where you keep it")
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if src.is_dir():
            os.symlink(src.resolve(), tmp / src.name, target_is_directory=True)
        elif is_archive(src):
            safe_extract(src, tmp)
        else:
            os.symlink(src.resolve(), tmp / src.name)
        shutil.rmtree(out_dir, ignore_errors=True)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("staged %s -> %s", src, out_dir)
    return out_dir


def stage_raw(archive_or_file, out_dir) -> Path:
    """A downloaded file -> ``out_dir``: archives are extracted safely, other files linked."""
    return stage_local(archive_or_file, out_dir, dataset="?")


def find_files(root, suffix: str) -> list:
    """Every file under ``root`` (links followed) whose name ends with ``suffix``, sorted by path."""
    root = Path(root)
    if root.is_file():
        return [root] if root.name.endswith(suffix) else []
    found = []
    for d, _, files in os.walk(root, followlinks=True):
        found.extend(Path(d) / f for f in files if f.endswith(suffix) and not f.startswith("._"))
    return sorted(found, key=lambda p: (p.name, str(p)))


def raw_files(name: str, raw, reader: str, suffix: str, fix: str, shown: str = "",
              source_fix: str = "set data.<name>.source: local and path") -> list:
    """A reader's input files: every file under ``raw`` ending with ``suffix`` (:func:`find_files`).
    Fails early, naming the config key, when the source gave no raw data, and naming the folder,
    with ``fix``, when it holds no such file."""
    if raw is None:
        raise DataFormatError(f"data.{name}", f"the {reader} reader needs raw data", fix=source_fix)
    files = find_files(raw, suffix)
    if not files:
        raise DataFormatError(raw, f"no {shown or suffix} files found", fix=fix)
    return files


class DigestOfFiles:
    """sha256 over the bytes of every file read, in order (the data.h5 ``source_sha256``)."""

    def __init__(self):
        self._h = hashlib.sha256()

    def update(self, name: str, data: bytes) -> None:
        self._h.update(name.encode() + b"\0" + hashlib.sha256(data).digest())

    def hexdigest(self) -> str:
        return self._h.hexdigest()
