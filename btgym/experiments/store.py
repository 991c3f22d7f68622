"""Artifact stores: where finished run directories are published.

A plain path is a :class:`LocalStore` (runs write straight into it, as always). A URL
with a scheme (``s3://…``, ``gs://…``, ``memory://…``, ``file://…``) is an
:class:`FsspecStore` (extra ``btgym[cloud]``): runs and dataset builds still write into a
local working directory, and the driver publishes each finished run directory to the
store; readers (the report, ``runs show``, reruns) fetch it back through the store.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from btgym.errors import MissingExtraError, RegistryError
from btgym.log import get_logger

log = get_logger(__name__)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(root: str | os.PathLike | None) -> bool:
    """Whether ``root`` is a URL with a scheme (``s3://…``) rather than a plain path."""
    return root is not None and bool(_URL.match(os.fspath(root)))


def work_dir_for(url: str) -> Path:
    """The local working directory of a URL root: ``$BTGYM_ARTIFACT_CACHE/<hash>`` (default
    under the system temp dir); runs and dataset builds write here before publishing."""
    base = os.environ.get("BTGYM_ARTIFACT_CACHE") or Path(tempfile.gettempdir()) / "btgym-artifacts"
    return (Path(base) / hashlib.sha256(url.encode()).hexdigest()[:16]).resolve()


class LocalStore:
    """A local directory root: run directories already live in it, so publishing is a no-op.

    Args:
        root: the directory.
    """

    remote = False

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    def __repr__(self) -> str:
        return f"LocalStore({self.root.as_posix()!r})"

    def url(self, rel: str) -> str:
        """The ``file://`` URI of ``rel`` under the root."""
        return (self.root / rel).as_uri()

    def exists(self, rel: str) -> bool:
        return (self.root / rel).exists()

    def put_dir(self, local: str | os.PathLike, rel: str) -> dict[str, str]:
        """``{relative file: URI}`` of ``local`` (copied under ``rel`` when it lives elsewhere)."""
        import shutil

        local, dest = Path(local).resolve(), (self.root / rel).resolve()
        if local != dest:
            shutil.copytree(local, dest, dirs_exist_ok=True)
        files = [p for p in sorted(dest.rglob("*")) if p.is_file()]
        return {p.relative_to(dest).as_posix(): p.as_uri() for p in files}

    def get_dir(self, rel: str, local: str | os.PathLike) -> Path:
        """``rel`` as a local directory (copied to ``local`` when that is elsewhere)."""
        import shutil

        src, local = (self.root / rel).resolve(), Path(local).resolve()
        if src != local:
            shutil.copytree(src, local, dirs_exist_ok=True)
        return local


class FsspecStore:
    """A root given as an fsspec URL (``s3://bucket/btgym``, ``memory://x``, ``file:///…``).

    Args:
        url: the root URL.
    """

    remote = True

    def __init__(self, url: str) -> None:
        try:
            import fsspec
        except ImportError:
            raise MissingExtraError("fsspec", "cloud", f"the artifact root {url!r}") from None
        try:
            self.fs, path = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            raise RegistryError(f"artifact root {url!r}: {exc}") from None
        self.url_root = url.rstrip("/")
        self.path = path.rstrip("/")
        self.protocol = url.split("://", 1)[0]

    def __repr__(self) -> str:
        return f"FsspecStore({self.url_root!r})"

    def _p(self, rel: str) -> str:
        return f"{self.path}/{rel.strip('/')}" if rel.strip("/") else self.path

    def url(self, rel: str) -> str:
        """The URL of ``rel`` under the root."""
        return f"{self.url_root}/{rel.strip('/')}"

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._p(rel)))

    def put_dir(self, local: str | os.PathLike, rel: str) -> dict[str, str]:
        """Upload every file of ``local`` under ``rel``; ``{relative file: URL}``."""
        local = Path(local)
        if not local.is_dir():
            raise RegistryError(f"{self!r}: {local} is not a directory to publish")
        out = {}
        for p in sorted(local.rglob("*")):
            if not p.is_file():
                continue
            name = p.relative_to(local).as_posix()
            target = self._p(f"{rel}/{name}")
            parent = target.rsplit("/", 1)[0]
            self.fs.makedirs(parent, exist_ok=True)
            self.fs.put_file(p.as_posix(), target)
            out[name] = self.url(f"{rel}/{name}")
        log.debug(f"published {len(out)} files of {local} to {self.url(rel)}")
        return out

    def get_dir(self, rel: str, local: str | os.PathLike) -> Path:
        """Download every file under ``rel`` into ``local``; returns ``local``."""
        src = self._p(rel)
        if not self.fs.exists(src):
            raise RegistryError(f"{self!r} has nothing at {self.url(rel)}")
        local = Path(local)
        for f in self.fs.find(src):
            name = f[len(src) :].lstrip("/") if f.startswith(src) else f.rsplit("/", 1)[-1]
            dest = local / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(f, dest.as_posix())
        return local


def open_store(root: str | os.PathLike) -> LocalStore | FsspecStore:
    """:class:`FsspecStore` for a URL with a scheme, else :class:`LocalStore`."""
    return FsspecStore(os.fspath(root)) if is_url(root) else LocalStore(root)
