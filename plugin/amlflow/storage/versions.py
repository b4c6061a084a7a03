"""Taking the next version number of a registration (a dataset, an environment, a model) in a datastore.

A registry keeps version N of a name as one file, and two concurrent registrations cannot both take
version N: the file is created only if absent (``DatastoreBackend.create_exclusive``), so exactly one of
them writes it and the other, having lost the race, looks at what was written and takes N+1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    from collections.abc import Callable

    from amlflow.storage.base import DatastoreBackend

T = TypeVar("T")

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
