"""URLs of amlflow's REST endpoints, computed without touching the network."""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

#: Where the amlflow plugin's FastAPI app is mounted in the Airflow api-server.
PREFIX = "/amlflow"


def explicit_api_url(workspace: Any = None) -> str | None:
    """The api-server's URL when one is given (the workspace's ``api_url``, else ``AMLFLOW_API_URL``): a
    notebook that talks to a deployment from outside it; None on a machine of the deployment itself."""
    return getattr(workspace, "api_url", None) or os.environ.get("AMLFLOW_API_URL") or None


def api_base_url(workspace: Any = None) -> str:
    """The Airflow api-server's URL: the workspace's, ``AMLFLOW_API_URL``, or ``[api] base_url``."""
    explicit = explicit_api_url(workspace)
    if explicit:
        return explicit.rstrip("/")
    from airflow.configuration import conf

    base = conf.get("api", "base_url", fallback="") or ""
    if base:
        return base.rstrip("/")
    host = conf.get("api", "host", fallback="localhost")
    port = conf.get("api", "port", fallback="8080")
    return f"http://{'localhost' if host in ('0.0.0.0', '') else host}:{port}"


#: Azure ML's route prefix of the pipeline service, below ``PREFIX``.
SERVICE = "/pipelines/v1.0"


def submit_path(pipeline_id: str) -> str:
    """The path, below the api-server's root, that submits runs of the published pipeline ``pipeline_id``."""
    return f"{PREFIX}{SERVICE}/PipelineRuns/PipelineSubmit/{pipeline_id}"


#: Azure ML's route prefix of the datastore service, below ``PREFIX``.
DATASTORE_SERVICE = "/datastore/v1.0"
#: The compute targets a deployment has (``amlflow.api.computes``).
COMPUTE_SERVICE = "/compute/v1.0"
#: amlflow's route prefix of the dataset registry (``amlflow.api.datasets``), below ``PREFIX``.
DATASET_SERVICE = "/dataset/v1.0"


def datastore_path(name: str) -> str:
    """The path, below the api-server's root, that tells whether datastore ``name`` is registered."""
    from urllib.parse import quote

    return f"{PREFIX}{DATASTORE_SERVICE}/datastores/{quote(name)}"


def endpoint_submit_path(endpoint_id: str) -> str:
    """The path, below the api-server's root, that submits runs of the pipeline endpoint ``endpoint_id``."""
    return f"{PREFIX}{SERVICE}/PipelineRuns/PipelineEndpointSubmit/Id/{endpoint_id}"


def request_base_url(request: Any) -> str:
    """The scheme and host a request reached the api-server at: the base of the URLs it answers with."""
    return f"{request.url.scheme}://{request.url.netloc}"


def submit_url(workspace: Any, pipeline_id: str) -> str:
    """The full URL that submits the published pipeline ``pipeline_id``."""
    return api_base_url(workspace) + submit_path(pipeline_id)


#: The JSON of one run as the pipeline view shows it, under ``PREFIX`` (``amlflow.api.pipeline_view``).
RUN_VIEW_PATH = "/view/v1.0/dags/{dag_id}/runs/{run_id}"


def run_view_path(dag_id: str, run_id: str) -> str:
    """The path, from the api-server's root, of the pipeline view's JSON of run ``run_id`` of ``dag_id``."""
    quote = urllib.parse.quote
    return PREFIX + RUN_VIEW_PATH.format(dag_id=quote(dag_id, safe=""), run_id=quote(run_id, safe=""))


#: The pipeline view's page of a run, under ``PREFIX`` (``amlflow.api.view_pages``).
RUN_PAGE_PATH = "/view/dags/{dag_id}/runs/{run_id}"


def run_page_path(dag_id: str, run_id: str) -> str:
    """The path, from the api-server's root, of the pipeline view's page of run ``run_id`` of ``dag_id``."""
    quote = urllib.parse.quote
    return PREFIX + RUN_PAGE_PATH.format(dag_id=quote(dag_id, safe=""), run_id=quote(run_id, safe=""))


#: The pipeline view's page of the published pipelines, under ``PREFIX``.
PIPELINES_PATH = "/view/pipelines"

#: The pipeline view's comparison of runs of one pipeline, under ``PREFIX``.
COMPARE_PATH = "/view/dags/{dag_id}/compare"


def compare_page_path(dag_id: str, run_ids: list[str]) -> str:
    """The path of the pipeline view's page comparing runs ``run_ids`` of ``dag_id``."""
    query = urllib.parse.urlencode([("run", run_id) for run_id in run_ids])
    return PREFIX + COMPARE_PATH.format(dag_id=urllib.parse.quote(dag_id, safe="")) + "?" + query
