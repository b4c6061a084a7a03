"""Taking the next version number of a registration (a dataset, an environment, a model) in a datastore.

A registry keeps version N of a name as one file, and two concurrent registrations cannot both take
version N: the file is created only if absent (``DatastoreBackend.create_exclusive``), so exactly one of
them writes it and the other, having lost the race, looks at what was written and takes N+1.
"""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, TypeVar

from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    from collections.abc import Callable

    from amlflow.storage.base import DatastoreBackend

T = TypeVar("T")

#: A version file: ``<N>.json``, N from 1, no leading zero
VERSION_FILE = re.compile(r"^([1-9][0-9]*)\.json$")

#: How many taken versions a registration steps over before it gives up (only concurrent writers take them).
MAX_RACES = 100


def claim_version(
    backend: DatastoreBackend,
    first_version: int,
    path_for: Callable[[int], str],
    payload_for: Callable[[int], bytes],
    *,
    what: str,
    on_taken: Callable[[int], T | None] | None = None,
    error: type[UserErrorException] = UserErrorException,
) -> tuple[int, T | None]:
    """Write ``payload_for(version)`` at ``path_for(version)`` for the first version from ``first_version`` on
    that no one else has written; ``(version, None)``.

    ``on_taken(version)`` is asked about each version another registration wrote meanwhile: None tries the
    next version, anything else is that same registration, given back as ``(version, it)`` (nothing is
    written), and it may raise to refuse. After ``MAX_RACES`` taken versions, ``error`` naming ``what``
    (``'Dataset "sales"'``).
    """
    version = first_version
    for _attempt in range(MAX_RACES):
        if backend.create_exclusive(path_for(version), payload_for(version)):
            return version, None
        taken = on_taken(version) if on_taken is not None else None
        if taken is not None:
            return version, taken
        version += 1
    raise error(f"{what}: could not take a new version ({MAX_RACES} were taken meanwhile)")


def versions_in(backend: DatastoreBackend, folder: str) -> list[int]:
    """The versions whose files (``<N>.json``) are directly in ``folder``, in order."""
    found = []
    for info in backend.list_files(folder):
        matched = VERSION_FILE.match(posixpath.basename(info.path))
        if matched and posixpath.dirname(info.path) == folder:
            found.append(int(matched.group(1)))
    return sorted(found)


def all_versions_in(backend: DatastoreBackend, root: str) -> list[tuple[str, int]]:
    """Every ``(name, version)`` whose file is ``<root>/<name>/<N>.json``."""
    found = []
    for info in backend.list_files(root):
        folder, base = posixpath.split(info.path)
        matched = VERSION_FILE.match(base)
        if matched and posixpath.dirname(folder) == root:
            found.append((posixpath.basename(folder), int(matched.group(1))))
    return found


def latest_versions_in(backend: DatastoreBackend, root: str) -> dict[str, int]:
    """Each name's highest version under ``root``, by name."""
    latest: dict[str, int] = {}
    for name, version in all_versions_in(backend, root):
        latest[name] = max(latest.get(name, 0), version)
    return latest
