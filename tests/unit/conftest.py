"""Fixtures of the dataset tests: the default datastore as a fresh local folder, and files put in it."""

from __future__ import annotations

import pytest

from amlflow.core import Datastore, Workspace


@pytest.fixture
def root(local_root):
    """The folder of ``workspaceblobstore`` in a fresh local datastore root."""
    return local_root / "workspaceblobstore"


@pytest.fixture
def store(root) -> Datastore:
    return Datastore(Workspace(), "workspaceblobstore")


def put(root, rel: str, data: bytes | str) -> None:
    """Write ``data`` at ``rel`` under ``root`` (folders made)."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
