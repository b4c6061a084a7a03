"""Registered environments (``Environment.register`` / ``get`` / ``list``), in the default datastore.

Kept as the dataset registry keeps datasets (``amlflow.data.dataset_registry``): JSON under
``amlflow-environments/<name>/<version>.json`` of ``[amlflow] default_datastore``'s backend, which a
notebook and the deployment reach alike. Versions are "1", "2", ...; "latest" is the highest. A version
file is claimed with ``amlflow.storage.versions.claim_version``, so two concurrent registrations can not
both take version N. Registering what the latest version already holds gives that version back, as in Azure ML.

Curated environments (names starting with ``AzureML-``) are not stored: see :func:`curated`.
"""

from __future__ import annotations

import datetime
import json
import logging
from typing import TYPE_CHECKING, Any

from amlflow.data.dataset_registry import backend
from amlflow.exceptions import UserErrorException
from amlflow.storage.versions import claim_version, latest_versions_in, versions_in

if TYPE_CHECKING:
    from amlflow.core.environment import Environment

log = logging.getLogger(__name__)

ROOT = "amlflow-environments"
CURATED_PREFIX = "AzureML-"
_RESERVED_PREFIXES = ("AzureML", "Microsoft")


def is_curated(name: str) -> bool:
    """Whether ``name`` is a curated environment's (``CURATED_PREFIX``)."""
    return isinstance(name, str) and name.startswith(CURATED_PREFIX)


def curated(name: str, version: str | None = None) -> Environment:
    """A curated environment (``AzureML-TensorFlow-2.3-GPU``, ``AzureML-Minimal``...): the worker's own Python.

    amlflow has no copy of Microsoft's curated images: a curated environment is user-managed (nothing is
    installed) and runs where the step runs, in the worker's Python, with whatever the workers have.
    """
    from amlflow.core.environment import Environment

    env = Environment(name, version=version or "1")
    env.python.user_managed_dependencies = True
    log.info(
        "Environment %s is a curated Azure ML environment: amlflow runs it on the worker's own Python, "
        "installing none of its packages",
        name,
    )
    return env


def register(env: Environment) -> Environment:
    """Store ``env`` as its name's next version (or give back the latest, if it holds the same); the stored copy."""
    _check_name(env.name)
    if env.name.startswith(_RESERVED_PREFIXES):
        raise UserErrorException(
            f'Environment name {env.name!r}: the prefixes "Microsoft" and "AzureML" are reserved for curated '
            "environments; register it under another name (env.name = ...)"
        )
    spec = _spec(env)
    versions = _versions(env.name)
    if versions and _read(env.name, versions[-1])["environment"] == spec:
        return _environment(_read(env.name, versions[-1]))
    record: dict[str, Any] = {"name": env.name, "environment": spec}

    def payload(version: int) -> bytes:
        record.update(version=str(version), created_time=datetime.datetime.now(datetime.UTC).isoformat())
        return json.dumps(record, sort_keys=True).encode()

    claim_version(
        backend(),
        max(versions, default=0) + 1,
        lambda version: _path(env.name, version),
        payload,
        what=f'Environment "{env.name}"',
    )
    return _environment(record)


def get(name: str, version: str | None = None) -> Environment:
    """The registered ``name`` at ``version`` (default: the latest), with Azure ML's error when there is none."""
    _check_name(name)
    versions = _versions(name)
    wanted = max(versions, default=None) if version is None else _version_number(version)
    if wanted is None or wanted not in versions:
        shown = f", version {version}" if version is not None else ""
        raise UserErrorException(
            f"Error retrieving the environment definition. Code: 404\n: No definition exists for Environment: "
            f"{name}{shown}"
        )
    return _environment(_read(name, wanted))


def list_all() -> dict[str, Environment]:
    """Every registered name's latest version, by name."""
    latest = latest_versions_in(backend(), ROOT)
    return {name: _environment(_read(name, version)) for name, version in sorted(latest.items())}


def _spec(env: Environment) -> dict[str, Any]:
    # One mapping of an Environment for YAML definitions and this registry alike.
    from amlflow.factory.runconfig_spec import environment_spec

    return environment_spec(env)


def _environment(record: dict[str, Any]) -> Environment:
    from amlflow.factory.runconfig_spec import environment_from_spec

    env = environment_from_spec(record["environment"])
    env.version = record["version"]
    return env


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise UserErrorException(f"Environment name must be a non-empty string, got {name!r}")
    if name in (".", "..") or any(char in name for char in "/\\") or any(ord(char) < 32 for char in name):
        raise UserErrorException(f"Environment name {name!r} may not be '.' or '..' nor contain '/' or '\\'")


def _version_number(version: Any) -> int:
    try:
        return int(str(version))
    except ValueError:
        raise UserErrorException(f"Environment version {version!r} is not a version number (1, 2, ...)") from None


def _path(name: str, version: int) -> str:
    return f"{ROOT}/{name}/{version}.json"


def _versions(name: str) -> list[int]:
    return versions_in(backend(), f"{ROOT}/{name}")


def _read(name: str, version: int) -> dict[str, Any]:
    return json.loads(backend().read_bytes(_path(name, version)))
