"""What a datastore name may be: a name, never a path.

A datastore name becomes an Airflow connection id and, with no connection, a folder under
``[amlflow] local_datastore_root``: a name such as ``/etc`` or ``../../etc`` would be a folder anywhere
on the worker. Azure ML allows letters, digits and ``_``; amlflow also allows ``-`` (common in Airflow
connection ids), and nothing else: no ``/``, no ``.``, so no ``..``.
"""

from __future__ import annotations

import re
from typing import Any

MAX_LENGTH = 255
PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,254}$"
_NAME = re.compile(PATTERN)


def datastore_name_problem(name: Any) -> str | None:
    """Why ``name`` can not be a datastore name, or None if it can."""
    if isinstance(name, str) and _NAME.match(name):
        return None
    return (
        f"{name!r} is not a datastore name: use 1-{MAX_LENGTH} letters, digits, '_' or '-' "
        "(a datastore is a name, never a path)"
    )


#: JSON Schema (and Python ``re``) pattern of a path inside a datastore: relative, no ``..`` part, no NUL.
RELATIVE_PATH_PATTERN = r"^(?![/\\])(?!.*(?:^|[/\\])\.\.(?:[/\\]|$))[^\u0000]*$"
MAX_PATH_LENGTH = 1024
_RELATIVE_PATH = re.compile(RELATIVE_PATH_PATTERN)


def relative_path_problem(path: Any) -> str | None:
    """Why ``path`` can not be a path inside a datastore (an absolute path, a ``..`` part), or None."""
    if not isinstance(path, str) or not path.strip() or len(path) > MAX_PATH_LENGTH or not _RELATIVE_PATH.match(path):
        return (
            f"{path!r} must be a path inside the datastore: relative, without '..', "
            f"at most {MAX_PATH_LENGTH} characters"
        )
    return None
