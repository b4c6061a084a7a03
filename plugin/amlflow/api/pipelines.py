"""Pipelines sent from notebooks: code snapshots and definitions written into the pipeline bundle.

Routes (below ``/amlflow/pipelines/v1.0``):

- ``POST Snapshots/Missing`` ``{"Hashes": [...]}`` -> ``{"Missing": [...]}``: which snapshots to upload;
- ``PUT Snapshots/{hash}`` (a gzipped tar, ``amlflow.storage.archives``): one step's code, kept only if
  its files hash to ``hash``;
- ``PUT PipelineDefinitions/{dag_id}`` ``{"Definition": "<yaml>"}``: checked as the dag-processor will
  read it, written into the bundle, parsed at once (the dag-processor is asked to); answers once the
  DAG exists, or removes the definition again and says why it could not;
- ``GET PipelineDefinitions/{dag_id}``: the definition (``PipelineRun.publish_pipeline`` republishes it).

Creating a pipeline puts code on the workers, and code on a worker can read every connection: the
caller must be allowed both to edit DAGs and to create connections (roles ``op`` and ``admin`` with the
simple auth manager; the configured auth manager's own answer otherwise). The api-server, not the
notebook, holds the datastore's credentials.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import yaml
from airflow.api_fastapi.app import get_auth_manager
from airflow.api_fastapi.auth.managers.models.resource_details import DagDetails
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.models import DagModel
from airflow.models.dagbag import DagPriorityParsingRequest
from airflow.models.errors import ParseImportError
from airflow.models.serialized_dag import SerializedDagModel
from airflow.utils.session import create_session
from fastapi import Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from amlflow import config
from amlflow.api.transactions import audit_log
from amlflow.bundles import layout
from amlflow.bundles.store import BundleNotConfigured, PipelineStore, staging_folder, store_for_deployment
from amlflow.commands.pools import compute_targets_of, sync_pools
from amlflow.storage.archives import ArchiveError, unpack
from amlflow.storage.manifest import Manifest

#: Azure ML's snapshot limit, for one step's code.
MAX_SNAPSHOT_BYTES = 300 * 1024 * 1024
_DAG_ID = re.compile(r"^[\w.-]{1,250}$")


class SnapshotQuery(BaseModel):
    """The snapshot hashes a notebook asks about (which of them the bundle lacks)."""

    model_config = ConfigDict(extra="forbid")

    Hashes: list[str] = Field(max_length=1000)


class DefinitionBody(BaseModel):
    """A pipeline definition sent from a notebook, as YAML text."""

    model_config = ConfigDict(extra="forbid")

    Definition: str = Field(max_length=1024 * 1024)


def requires_deploy(request: Request, user: GetUserDep) -> None:
    """403 unless the caller may edit DAGs and create connections (what running code on workers amounts to)."""
    manager = get_auth_manager()
    dag_id = request.path_params.get("dag_id")
    if not (
        manager.is_authorized_dag(method="PUT", details=DagDetails(id=dag_id), user=user)
        and manager.is_authorized_connection(method="POST", user=user)
    ):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "Forbidden: sending a pipeline puts code on the workers; it needs the rights to edit DAGs and to "
            "create connections (role op or admin)",
        )


def pipeline_store() -> PipelineStore:
    """The bundle store that pipelines from notebooks are written to; 501 if the deployment has none."""
    try:
        return store_for_deployment()
    except BundleNotConfigured as error:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, str(error)) from None


def _check_hash(content_hash: str) -> None:
    if not layout.SNAPSHOT_HASH.match(content_hash):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{content_hash!r} is not a snapshot hash (64 hex digits)")


def missing_snapshots(query: SnapshotQuery) -> dict[str, list[str]]:
    """Which of these snapshots the bundle lacks (upload only those)."""
    store = pipeline_store()
    for content_hash in query.Hashes:
        _check_hash(content_hash)
    return {"Missing": [h for h in dict.fromkeys(query.Hashes) if not store.has_snapshot(h)]}


async def put_snapshot(content_hash: str, request: Request) -> dict[str, Any]:
    """Keep one step's code, unpacked and checked: every entry a plain file inside, hashing to ``content_hash``."""
    _check_hash(content_hash)
    store = pipeline_store()
    if store.has_snapshot(content_hash):
        return {"Hash": content_hash, "Created": False}
    body = await request.body()
    if len(body) > MAX_SNAPSHOT_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, f"snapshot {content_hash}: larger than 300 MB")
    with staging_folder(store) as staging:
        target = os.path.join(staging.path, "files")
        os.mkdir(target)
        try:
            files = unpack(body, target, MAX_SNAPSHOT_BYTES)
        except ArchiveError as error:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, f"snapshot {content_hash}: {error}") from None
        found = Manifest.of_folder(target).fingerprint
        if found != content_hash:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"snapshot {content_hash}: its files hash to {found}, not to its name"
            )
        store.add_snapshot(content_hash, target)
    return {"Hash": content_hash, "Created": True, "Files": files}


def get_definition(dag_id: str) -> dict[str, str]:
    """The definition text of a pipeline sent from a notebook; 404 for a pipeline a DAG file defines (or none)."""
    text = pipeline_store().definition(dag_id)
    if text is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"pipeline {dag_id!r} was not sent from a notebook (a DAG file defines it, or nothing does)",
        )
    return {"Id": dag_id, "Definition": text}


def put_definition(dag_id: str, body: DefinitionBody, _audit: Annotated[None, Depends(audit_log())]) -> dict[str, Any]:
    """Write a pipeline into the bundle and wait until the dag-processor has made its DAG."""
    if not _DAG_ID.match(dag_id):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"{dag_id!r} is not a pipeline id (letters, digits, _.-)")
    store = pipeline_store()
    document = _document(dag_id, body.Definition, store)
    published = document.get("published", "experiment" not in document)
    _refuse_shadowing(dag_id, document.get("display_name") if published else None, store.bundle_name)
    existing = store.definition(dag_id)
    if existing is not None:
        if existing != body.Definition:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"pipeline {dag_id!r} exists with another definition; ids name content"
            )
        wait_until_parsed(dag_id, store, since=None)
        return {"Id": dag_id, "Created": False}
    dags = _check_against_code(dag_id, body.Definition, store)
    targets = compute_targets_of(dags)  # their pools, as `amlflow pools sync` makes them
    sync_pools({name: slots for name, (slots, _kind) in targets.items()}, {n: k for n, (_s, k) in targets.items()})
    started = datetime.now(UTC)
    store.write_definition(dag_id, body.Definition)
    try:
        request_parse(store.bundle_name, layout.loader_path(dag_id))
        wait_until_parsed(dag_id, store, since=started)
    except BaseException:
        store.remove_definition(dag_id)  # no half pipeline stays behind
        raise
    return {"Id": dag_id, "Created": True}


def _document(dag_id: str, text: str, store: PipelineStore) -> dict[str, Any]:
    """The definition as a mapping, with the rules only a sent definition has: its code is its snapshots."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Definition: not YAML ({error})") from None
    if not isinstance(document, dict) or document.get("name") != dag_id:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Definition: its name must be {dag_id!r}")
    if "default_source_directory" in document or "schedule" in document:
        key = "default_source_directory" if "default_source_directory" in document else "schedule"
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"Definition.{key}: not allowed in a sent definition")
    for index, step in enumerate(document.get("steps") or []):
        source = step.get("source_directory") if isinstance(step, dict) else None
        if source is None:
            continue
        where = f"{step.get('name') or step.get('script_name') or index}.source_directory"
        match = layout.SNAPSHOT_REFERENCE.match(str(source))
        if not match:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"Definition: step {where}: {source!r} is not a snapshot of this bundle"
            )
        if not store.has_snapshot(match.group(1)):
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, f"Definition: step {where}: snapshot {match.group(1)} was not uploaded"
            )
    return document


def _check_against_code(dag_id: str, text: str, store: PipelineStore) -> list[Any]:
    """Build the DAG as the dag-processor will, from a private copy of the layout; 400 with every error."""
    from amlflow.factory.folder_loader import build_unregistered

    with tempfile.TemporaryDirectory(prefix="amlflow-definition-") as folder:
        os.makedirs(os.path.join(folder, layout.DEFINITIONS))
        os.makedirs(os.path.join(folder, layout.SNAPSHOTS))
        for content_hash in set(layout.SNAPSHOT_REFERENCE_IN_TEXT.findall(text)):
            os.symlink(store.snapshot_folder(content_hash), os.path.join(folder, layout.snapshot_path(content_hash)))
        path = os.path.join(folder, *layout.definition_path(dag_id).split("/"))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        dags, errors = build_unregistered(path, layout.definition_path(dag_id))
    if errors:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "; ".join(str(error) for error in errors))
    return dags


def _refuse_shadowing(dag_id: str, name: str | None, bundle_name: str) -> None:
    """409 when a DAG file (another bundle) already defines this id, or the name being published."""
    with create_session() as session:
        for taken in dict.fromkeys(filter(None, (dag_id, name))):
            other = session.scalar(
                select(DagModel).where(
                    DagModel.dag_id == taken, DagModel.bundle_name != bundle_name, ~DagModel.is_stale
                )
            )
            if other is not None:
                raise HTTPException(
                    status.HTTP_409_CONFLICT,
                    f"{taken!r} is defined by the DAG file {other.relative_fileloc} (bundle {other.bundle_name!r}); "
                    "publish under another name, or change that file",
                )


def request_parse(bundle_name: str, relative_fileloc: str) -> None:
    """Ask the dag-processor to parse this file next (its bundle is refreshed first, so a new file is seen)."""
    try:
        with create_session() as session:
            session.add(DagPriorityParsingRequest(bundle_name=bundle_name, relative_fileloc=relative_fileloc))
    except IntegrityError:  # a request for this file is already waiting
        pass


def wait_until_parsed(dag_id: str, store: PipelineStore, since: datetime | None) -> None:
    """Return once the DAG is serialized; a parse error of its file is a 400, no parse in time a 503."""
    timeout = config.get_int("parse_timeout")
    deadline = time.monotonic() + timeout
    loader = layout.loader_path(dag_id)
    while True:
        with create_session() as session:
            model = session.get(DagModel, dag_id)
            if model is not None and not model.is_stale and SerializedDagModel.has_dag(dag_id, session=session):
                return
            failure = session.scalar(
                select(ParseImportError).where(
                    ParseImportError.bundle_name == store.bundle_name, ParseImportError.filename == loader
                )
            )
            if failure is not None and (since is None or (failure.timestamp and failure.timestamp >= since)):
                raise HTTPException(status.HTTP_400_BAD_REQUEST, f"pipeline {dag_id!r}: {failure.stacktrace}")
        if time.monotonic() > deadline:
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                f"the dag-processor did not parse pipeline {dag_id!r} within {timeout} s ([amlflow] parse_timeout): "
                "is `airflow dag-processor` running, with the bundle "
                f"{store.bundle_name!r} in [dag_processor] dag_bundle_config_list? Nothing was kept",
            )
        time.sleep(0.2)
