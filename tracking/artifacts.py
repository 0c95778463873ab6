"""Run artifacts in Django's "artifacts" storage, under paths that cannot leave its root."""

from __future__ import annotations

import contextlib
import errno
import os
import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote

from django.core.files import File
from django.core.files.storage import Storage, storages

from tracking.errors import InvalidInput, NotFound, Unavailable

_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_PATH_LENGTH = 1000
# File systems refuse longer names (NAME_MAX) and paths (PATH_MAX, with the store's root in
# front) with ENAMETOOLONG; S3 keys stop at 1,024 bytes. Both counted in UTF-8 bytes.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1000


def artifact_storage() -> Storage:
    return storages["artifacts"]


def safe_artifact_path(raw: str, *, allow_empty: bool = False) -> str:
    """The path as a clean relative POSIX path, or InvalidInput when it could escape the root.

    Checked on the path decoded until it no longer changes too, because a storage backend or a
    proxy in front of it might decode once more than we did.
    """
    if not isinstance(raw, str):
        raise InvalidInput("The artifact path must be a string.", field="path")
    if len(raw) > _MAX_PATH_LENGTH:
        raise InvalidInput("The artifact path is too long.", field="path")
    forms = [raw]
    while (decoded := unquote(forms[-1])) != forms[-1]:
        if len(forms) > 8:
            raise InvalidInput("The artifact path is encoded too many times.", field="path")
        forms.append(decoded)
    for form in forms:
        if "\x00" in form or "\\" in form:
            raise InvalidInput(
                "The artifact path must not contain NUL bytes or backslashes.", field="path"
            )
        if form.startswith("/") or _DRIVE.match(form):
            raise InvalidInput("The artifact path must be relative.", field="path")
        parts = form.split("/")
        if ".." in parts:
            raise InvalidInput("The artifact path must not contain '..'.", field="path")
        if any(ord(ch) < 32 for ch in form):
            raise InvalidInput("The artifact path must not contain control characters.", "path")
    try:
        encoded = raw.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("The artifact path is not valid UTF-8 text.", field="path") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise InvalidInput(
            f"The artifact path is longer than {MAX_PATH_BYTES} bytes.", field="path"
        )
    if any(len(part.encode()) > MAX_NAME_BYTES for part in raw.split("/")):
        raise InvalidInput(
            f"A file or folder name in the artifact path is longer than {MAX_NAME_BYTES} bytes.",
            field="path",
        )
    # "." segments name the folder they are in, as MLflow normalises them ("." is the root).
    path = "/".join(part for part in raw.split("/") if part != ".") if "." in raw else raw
    path = path.strip("/") if path.endswith("/") or raw.endswith("/") else path
    if any(part == "" for part in path.split("/")) and path:
        raise InvalidInput("The artifact path must not contain empty segments.", field="path")
    if not path and not allow_empty:
        raise InvalidInput("An artifact path is required.", field="path")
    if posixpath.normpath(path or ".") != (path or "."):
        raise InvalidInput("The artifact path is not normalised.", field="path")
    return path


def _name_too_long(path: str) -> InvalidInput:
    # Only reached when the store's own root is long; safe_artifact_path keeps names short.
    return InvalidInput(f"The artifact path '{path[:100]}' is too long to store.", field="path")


@dataclass(frozen=True, slots=True)
class ArtifactEntry:
    path: str
    is_dir: bool
    size: int | None = None


# Errors that say the store itself cannot take files, whatever the path.
_STORE_ERRNOS = frozenset(
    {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO}
)


def _store_unwritable(storage: Storage, exc: OSError) -> bool:
    if exc.errno in _STORE_ERRNOS:
        return True
    # A root that is no folder (a file, a missing mount) fails like a path conflict would.
    root = getattr(storage, "location", None)
    return root is not None and not os.path.isdir(root)


def artifact_save(*, path: str, content) -> None:
    """Store a stream under `path`, replacing what was there; the body is never held in memory."""
    storage = artifact_storage()
    try:
        if storage.exists(path):
            storage.delete(path)
        name = storage.save(path, File(content, name=posixpath.basename(path)))
    except OSError as exc:
        if _store_unwritable(storage, exc):
            raise Unavailable(
                "The artifact store cannot store files right now; nothing was stored. "
                "Try again later, or ask the administrator to check the artifact store."
            ) from exc
        error = _path_error(path, exc)
        if error is not None:
            raise error from None
        raise
    if name != path:
        # A concurrent upload of the same path won the race; keep the latest, as PUT means.
        storage.delete(path)
        with storage.open(name) as stored:
            storage.save(path, stored)
        storage.delete(name)


def _path_error(path: str, exc: OSError) -> InvalidInput | None:
    """The caller's mistake that `exc` reports, if it is one (a name too long, a file where a
    folder is or the reverse)."""
    if exc.errno == errno.ENAMETOOLONG:
        return _name_too_long(path)
    # Django raises FileExistsError without an errno for a file where a folder must go.
    conflict = isinstance(exc, FileExistsError | IsADirectoryError | NotADirectoryError)
    if conflict or exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
        return InvalidInput(
            f"Cannot store a file at '{path}': a folder and a file cannot share a path.",
            field="path",
        )
    return None


def artifact_open(*, path: str):
    storage = artifact_storage()
    try:
        return storage.open(path, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(f"No artifact at '{path}'.") from None
    except OSError as exc:  # S3 backends raise their own OSError subclasses for missing keys
        raise NotFound(f"No artifact at '{path}'.") from exc


def artifact_list(*, path: str) -> list[ArtifactEntry]:
    """The entries directly under `path` (names relative to it); empty when nothing is there."""
    storage = artifact_storage()
    try:
        dirs, files = storage.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise _name_too_long(path) from None
        raise
    entries = [ArtifactEntry(path=name, is_dir=True) for name in dirs]
    for name in files:
        full = posixpath.join(path, name) if path else name
        try:
            size = storage.size(full)
        except OSError:
            size = None
        entries.append(ArtifactEntry(path=name, is_dir=False, size=size))
    return sorted(entries, key=lambda entry: entry.path)


def artifact_delete(*, path: str) -> None:
    """Delete the file at `path`, or everything under it when it is a folder."""
    storage = artifact_storage()
    entries = artifact_list(path=path)
    if not entries:
        if not storage.exists(path):
            raise NotFound(f"No artifact at '{path}'.")
        storage.delete(path)
        return
    for entry in entries:
        artifact_delete(path=posixpath.join(path, entry.path))
    if storage.exists(path):
        # A folder some other upload refilled meanwhile stays; the files asked for are gone.
        with contextlib.suppress(OSError):
            storage.delete(path)
