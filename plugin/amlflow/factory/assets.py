"""A pipeline's data as Airflow assets: what each step reads (inlets) and writes (outlets).

Every step output is an asset, every DataReference and registered dataset a step reads or writes is one
too, so Airflow's asset graph and ``/api/v2/assets`` show which steps produce and consume what, and a
data-aware schedule can wait for a pipeline's output. URIs name datastore locations as Azure ML does,
``azureml://datastores/<datastore>/paths/<path>``; a step output lives at a new path in each run, so its
URI holds ``{run_id}`` where the run's part goes, and each asset event says the run's own location
(``runtime.asset_events``). A registered dataset is ``azureml://datasets/<name>``.
"""

from __future__ import annotations

from typing import Any

from amlflow.runtime.outputs import committed_path

RUN_PLACEHOLDER = "{run_id}"
#: A run id no run has, standing for every run while an output's path is worked out (the path keeps it as is).
_ANY_RUN = "amlflow-any-run"


def datastore_uri(datastore: str, path: str) -> str:
    """The asset URI of a path on a datastore (``azureml://datastores/<name>/paths/<path>``)."""
    return f"azureml://datastores/{datastore}/paths/{path.strip('/')}"


def dataset_uri(name: str) -> str:
    """The asset URI of a registered dataset (``azureml://datasets/<name>``)."""
    return f"azureml://datasets/{name}"


def output_asset_uri(dag_id: str, task_id: str, spec: dict[str, Any], default_datastore: str) -> str:
    """The URI of one step output: where every run commits it, with ``{run_id}`` for the run's part."""
    path = committed_path(spec, dag_id, _ANY_RUN, task_id)
    run_scoped = "/".join(RUN_PLACEHOLDER if part == _ANY_RUN else part for part in path.split("/"))
    return datastore_uri(spec.get("datastore") or default_datastore, run_scoped)


def step_assets(
    dag_id: str,
    task_id: str,
    inputs: list[dict[str, Any]],
    outputs: list[dict[str, Any]],
    produced: dict[tuple[str, str], str],
    default_datastore: str,
) -> tuple[list[Any], list[Any]]:
    """The step's inlets and outlets.

    :param produced: the URI of every step output of the pipeline, by (task id, output name).
    """
    from airflow.sdk import Asset

    # A DataReference in upload mode is where the step writes: an outlet.
    read = [spec for spec in inputs if spec.get("mode") != "upload"]
    uploaded = [spec for spec in inputs if spec.get("mode") == "upload"]
    inlets = [Asset(uri) for spec in read for uri in _input_uris(spec, produced)]
    outlets = [Asset(output_asset_uri(dag_id, task_id, spec, default_datastore)) for spec in outputs]
    outlets += [Asset(datastore_uri(spec["datastore"], spec["path"])) for spec in uploaded]
    outlets += [Asset(dataset_uri(spec["register"]["name"])) for spec in outputs if spec.get("register")]
    return inlets, outlets


def _input_uris(spec: dict[str, Any], produced: dict[tuple[str, str], str]) -> list[str]:
    kind = spec["kind"]
    if kind == "PipelineData":
        return [produced[(spec["task_id"], spec["output"])]]
    if kind == "DataReference":
        return [datastore_uri(spec["datastore"], spec["path"])]
    if kind == "Dataset":
        dataset = spec["dataset"]
        if dataset.get("name"):
            return [dataset_uri(dataset["name"])]
        if dataset["definition"]["type"] == "Registered":  # by id, resolved when the step runs
            return []
        return [
            datastore_uri(source["datastore"], source["path"])
            for source in dataset["definition"]["sources"]
            if "datastore" in source
        ]
    return []  # a SQL query is not a location
