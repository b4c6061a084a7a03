"""Snapshot archives: the files of a source folder as a gzipped tar, and their careful unpacking.

A notebook sends each step's code to the api-server as one archive; the api-server unpacks it into the
DAG bundle, where every worker runs it. An archive is data from a client, so unpacking trusts nothing:
only regular files and folders, every path relative and inside the target (no ``..``, no absolute
path, no link of any kind), at most ``max_bytes`` in all; anything else refuses the whole archive
before a byte is written where others can see it.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import shutil
import tarfile
from collections.abc import Iterator


class ArchiveError(ValueError):
    """An archive that can not be unpacked safely; the message names the entry."""


def pack(source_directory: str, files: list[str]) -> bytes:
    """A gzipped tar of ``files`` (``/``-separated paths relative to ``source_directory``), links followed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6, dereference=True) as archive:
        for rel in files:
            info = archive.gettarinfo(os.path.join(source_directory, *rel.split("/")), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with open(os.path.join(source_directory, *rel.split("/")), "rb") as handle:
                archive.addfile(info, handle)
    return buffer.getvalue()


def unpack(data: bytes, target: str, max_bytes: int) -> int:
    """Unpack ``data`` into the empty folder ``target``; the number of files. Raises ArchiveError."""
    files = total = 0
    with _opened(data) as archive:
        members = _checked_members(archive)
        for member in members:
            total += member.size
            if total > max_bytes:
                raise ArchiveError(f"larger than {max_bytes:,} bytes unpacked (at entry {member.name!r})")
        for member in members:
            destination = os.path.join(target, *_relative(member.name).split("/"))
            if member.isdir():
                os.makedirs(destination, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            source = archive.extractfile(member)
            if source is None:
                raise ArchiveError(f"entry {member.name!r} has no content")
            with source, open(destination, "xb") as handle:
                shutil.copyfileobj(source, handle)
            files += 1
    return files


@contextlib.contextmanager
def _opened(data: bytes) -> Iterator[tarfile.TarFile]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 - closed below
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"not a tar archive ({error})") from None
    with archive:
        yield archive


def _checked_members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    try:
        members = archive.getmembers()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ArchiveError(f"a broken archive ({error})") from None
    seen: set[str] = set()
    for member in members:
        rel = _relative(member.name)
        if not (member.isfile() or member.isdir()):
            kind = "a link" if member.issym() or member.islnk() else "not a file or a folder"
            raise ArchiveError(f"entry {member.name!r} is {kind}: a snapshot holds only files and folders")
        if member.isfile() and rel in seen:
            raise ArchiveError(f"entry {member.name!r} appears twice")
        seen.add(rel)
    return members


def _relative(name: str) -> str:
    """The entry's path, refused if it could land outside the target folder."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or "\x00" in name:
        raise ArchiveError(f"entry {name!r} is not a relative path")
    normal = posixpath.normpath(name)
    if normal.startswith("../") or normal == ".." or "/../" in f"/{name}/":
        raise ArchiveError(f"entry {name!r} leaves its folder")
    return normal
