"""A ``Pipeline`` sent from a notebook to a deployment: its code, its definition, then a run or a publish.

What ``Experiment.submit(pipeline)``, ``pipeline.submit(...)``, ``pipeline.publish(...)`` (outside a DAG
file) and ``PipelineRun.publish_pipeline(...)`` do, through the amlflow plugin of the api-server
(``amlflow.api.pipelines``):

1. check the pipeline (``Pipeline.validate()``) and the parameter names, before anything is uploaded;
2. snapshot each step's ``source_directory`` as Azure ML does (``.amlignore``, else ``.gitignore``; at
   most 300 MB and 2,000 files, with Azure ML's messages) and upload the snapshots the bundle lacks;
3. send the definition (``amlflow.factory.yaml_writer``), whose DAG id holds its content hash: a
   changed graph or changed code is another DAG, so a run already going never sees it;
4. start the run (or return the published pipeline).

Workers run the uploaded snapshot, never files from this machine: once ``submit`` returns, the
notebook's folder may change or go.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from amlflow.bundles import layout
from amlflow.exceptions import PipelineValidationError, SnapshotException, UserErrorException
from amlflow.factory import yaml_writer

if TYPE_CHECKING:
    from amlflow.core.experiment import Experiment
    from amlflow.pipeline.core.graph import PublishedPipeline
    from amlflow.pipeline.core.pipeline import Pipeline
    from amlflow.pipeline.core.run import PipelineRun

#: Azure ML's snapshot limits (``azureml._restclient.constants``) and the variable that lifts the file count.
SNAPSHOT_MAX_BYTES = 300 * 1024 * 1024
SNAPSHOT_MAX_FILES = 2000
NO_FILE_LIMIT_ENV = "AML_SNAPSHOT_NO_FILE_LIMIT"
#: How many hex digits of the definition's hash a DAG id carries.
ID_HASH_LENGTH = 12


@dataclass(frozen=True)
class LocalSnapshot:
    """A source directory about to be sent: its content hash and the files the snapshot holds."""

    folder: str
    content_hash: str
    files: list[str]


def take_snapshot(folder: str) -> LocalSnapshot:
    """The snapshot of ``folder``: the files a step's run will see, hashed as the runtime hashes them."""
    from amlflow.runtime.snapshot import source_files
    from amlflow.storage.manifest import Manifest, sha256_file

    if not os.path.isdir(folder):
        raise UserErrorException(f"source_directory {folder} is not a folder")
    files = source_files(folder)
    if len(files) > SNAPSHOT_MAX_FILES and not os.environ.get(NO_FILE_LIMIT_ENV):
        raise SnapshotException(_banner(folder, f"Your project exceeds the file limit of {SNAPSHOT_MAX_FILES}."))
    entries, total = [], 0
    for rel in files:
        path = os.path.join(folder, *rel.split("/"))
        size = os.path.getsize(path)
        if size > SNAPSHOT_MAX_BYTES:
            raise SnapshotException(
                f"File '{path}' from source_directory exceeds the maximum snapshot size of 300 MB.\n"
                "Please use a separate directory for a step with files only related to that step."
            )
        total += size
        if total > SNAPSHOT_MAX_BYTES:
            raise SnapshotException(
                _banner(
                    folder,
                    "Your total snapshot size exceeds the limit of 300.0 MB.\n"
                    "Please see http://aka.ms/aml-largefiles on how to work with large files.",
                )
            )
        entries.append({"path": rel, "size": size, "sha256": sha256_file(path)})
    return LocalSnapshot(folder, Manifest(entries).fingerprint, files)


def _banner(folder: str, message: str) -> str:
    line = "=" * 60
    return f"\n{line}\n\nWhile attempting to take snapshot of {folder}\n{message}\n\n{line}\n"


def send(
    pipeline: Pipeline,
    naming: Callable[[str], tuple[str, dict[str, Any]]],
    *,
    description: str | None = None,
    version: str | None = None,
    continue_on_step_failure: bool | None = None,
    fresh: bool = False,
) -> str:
    """Upload the pipeline's code and definition; the DAG id it now runs as.

    ``naming(digest)`` gives the DAG id and the definition's other top-level keys (``experiment``,
    ``display_name``) from the hex digest of the definition's content. ``fresh`` takes new snapshots.
    """
    document = send_code(
        pipeline,
        description=description,
        version=version,
        continue_on_step_failure=continue_on_step_failure,
        fresh=fresh,
    )
    dag_id = _upload(pipeline.workspace, document, naming)
    for step in pipeline.steps:
        folder = _source_folder(step, pipeline)
        digest = pipeline._sent_snapshots[folder].content_hash[:8] if folder else None
        print(f"Created step {step.name}" + (f" [snapshot {digest}]" if digest else ""))
    return dag_id


def send_code(
    pipeline: Pipeline,
    *,
    description: str | None = None,
    version: str | None = None,
    continue_on_step_failure: bool | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """Check the pipeline and upload the snapshots the deployment lacks; its definition, naming those snapshots."""
    from amlflow.client import client_for
    from amlflow.storage.archives import pack

    if fresh or not hasattr(pipeline, "_sent_snapshots"):
        # Sent before, the pipeline is checked again by the api-server, against the code it ran.
        _validate(pipeline)
    snapshots = _snapshots(pipeline, fresh)
    client = client_for(pipeline.workspace)
    by_hash = {snapshot.content_hash: snapshot for snapshot in snapshots.values()}
    for content_hash in client.missing_snapshots(sorted(by_hash)):
        snapshot = by_hash[content_hash]
        client.put_snapshot(content_hash, pack(snapshot.folder, snapshot.files))
    return yaml_writer.pipeline_document(
        pipeline,
        lambda folder: layout.snapshot_reference(snapshots[folder].content_hash),
        description=description,
        version=version,
        continue_on_step_failure=continue_on_step_failure,
    )


def _snapshots(pipeline: Pipeline, fresh: bool) -> dict[str, LocalSnapshot]:
    """The snapshot of each source directory, taken when the pipeline is first sent.

    As in Azure ML, a ``Pipeline`` object is finalized once: sending it again (another submit, a publish)
    sends the code of the first time, unless ``fresh`` (``regenerate_outputs=True``).
    """
    taken: dict[str, LocalSnapshot] = {} if fresh else dict(getattr(pipeline, "_sent_snapshots", {}))
    for step in pipeline.steps:
        folder = _source_folder(step, pipeline)
        if folder is not None and folder not in taken:
            taken[folder] = take_snapshot(folder)
    pipeline._sent_snapshots = taken
    return taken


def _upload(workspace: Any, document: dict[str, Any], naming: Callable[[str], tuple[str, dict[str, Any]]]) -> str:
    """Send a definition whose snapshots the deployment has; the DAG id ``naming`` gives it."""
    from amlflow.client import client_for

    dag_id, top = naming(yaml_writer.graph_hash(document)[:ID_HASH_LENGTH])
    client_for(workspace).put_definition(dag_id, yaml_writer.dump(yaml_writer.named(document, dag_id, **top)))
    return dag_id


def _source_folder(step: Any, pipeline: Pipeline) -> str | None:
    locate = getattr(step, "source_directory", None)
    return locate(pipeline.default_source_directory) if callable(locate) else None


def _id_prefix(name: str) -> str:
    """The start of a DAG id made from a name (Azure ML allows any name; a DAG id only ``[\\w.-]``)."""
    return re.sub(r"[^\w.-]", "_", name)[: 250 - ID_HASH_LENGTH - 1]


def _validate(pipeline: Pipeline) -> None:
    errors = pipeline.validate()
    if errors:
        raise PipelineValidationError(errors, source=pipeline.source_file)


def submit(
    pipeline: Pipeline,
    experiment: Experiment,
    pipeline_parameters: dict[str, Any] | None = None,
    **options: Any,
) -> PipelineRun:
    """Run ``pipeline`` in ``experiment``: send it (once per content), then start a run of it."""
    known = set(pipeline.parameters()) | pipeline.data_path_inputs() | set(pipeline.dataset_parameters())
    for name in pipeline_parameters or {}:
        if name not in known:
            raise UserErrorException(f"Pipeline parameter with name {name} does not exist")

    dag_id = send(
        pipeline,
        experiment_naming(experiment),
        continue_on_step_failure=options.get("continue_on_step_failure"),
        fresh=bool(options.get("regenerate_outputs")),
    )
    return start_run(experiment, dag_id, pipeline_parameters, **options)


def experiment_naming(experiment: Experiment) -> Callable[[str], tuple[str, dict[str, Any]]]:
    """How a pipeline submitted to ``experiment`` is named: ``<experiment>.<digest>``."""

    def naming(digest: str) -> tuple[str, dict[str, Any]]:
        top = {"experiment": experiment.name, "display_name": f"{experiment.name} ({digest[:8]})"}
        return f"{_id_prefix(experiment.name)}.{digest}", top

    return naming


def start_run(
    experiment: Experiment, dag_id: str, pipeline_parameters: dict[str, Any] | None = None, **options: Any
) -> PipelineRun:
    """Start a run of the sent pipeline ``dag_id`` in ``experiment``."""
    from amlflow.client import client_for
    from amlflow.pipeline.core.graph import submission_body
    from amlflow.pipeline.core.run import PipelineRun

    client = client_for(experiment.workspace)
    entity = client.submit(dag_id, submission_body(experiment, pipeline_parameters, **options))
    run = PipelineRun(experiment, entity["Id"], _details=entity)
    print(f"Submitted PipelineRun {run.id}")
    print(f"Link to Airflow UI: {client.ui_run_url(dag_id, run.id)}")
    return run


def publish(
    pipeline: Pipeline,
    name: str | None,
    description: str | None,
    version: str | None,
    continue_on_step_failure: bool | None,
) -> PublishedPipeline:
    """Publish ``pipeline`` on the deployment: a DAG that runs when triggered, with an endpoint."""
    from amlflow.pipeline.core.graph import PublishedPipeline

    shown = name or "Pipeline"
    dag_id = send(
        pipeline,
        lambda digest: (f"{_id_prefix(shown)}.{digest}", {"display_name": shown}),
        description=description,
        version=version,
        continue_on_step_failure=continue_on_step_failure,
    )
    return PublishedPipeline.get(pipeline.workspace, dag_id)


def publish_run(
    run: PipelineRun, name: str, description: str | None, version: str | None, continue_on_step_failure: bool | None
) -> PublishedPipeline:
    """Publish the graph and code a run ran (a run of a pipeline sent from a notebook) under ``name``."""
    source = run.pipeline_id
    document = sent_document(
        run.experiment.workspace,
        source,
        f"PipelineRun.publish_pipeline: run {run.id!r} is of pipeline {source!r}, which a DAG file defines: "
        f"it is published already (PublishedPipeline.get(ws, {source!r}))",
    )
    return publish_document(run.experiment.workspace, document, name, description, version, continue_on_step_failure)


def sent_document(workspace: Any, dag_id: str, defined_by_a_file: str) -> dict[str, Any]:
    """The definition of pipeline ``dag_id``, sent from a notebook; UserErrorException(``defined_by_a_file``)
    if a DAG file defines it (its definition is that file, not on the deployment)."""
    import yaml

    from amlflow.client import client_for
    from amlflow.exceptions import ErrorResponseException

    try:
        return yaml.safe_load(client_for(workspace).definition(dag_id))
    except ErrorResponseException as error:
        if error.status_code != 404:
            raise
        raise UserErrorException(defined_by_a_file) from None


def publish_document(
    workspace: Any,
    document: dict[str, Any],
    name: str,
    description: str | None,
    version: str | None,
    continue_on_step_failure: bool | None,
) -> PublishedPipeline:
    """Publish a definition whose code the deployment has (a run's, a draft's) under ``name``."""
    from amlflow.pipeline.core.graph import PublishedPipeline

    document = {k: v for k, v in document.items() if k not in ("name", "experiment", "display_name")}
    for key, value in (("description", description), ("version", version)):
        if value is not None:
            document[key] = value
    if continue_on_step_failure is not None:
        document["continue_on_step_failure"] = bool(continue_on_step_failure)
    document["published"] = True
    dag_id = _upload(workspace, document, lambda digest: (f"{_id_prefix(name)}.{digest}", {"display_name": name}))
    return PublishedPipeline.get(workspace, dag_id)
