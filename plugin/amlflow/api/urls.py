"""URLs of amlflow's REST endpoints, computed without touching the network."""

from __future__ import annotations

import os
from typing import Any

#: Where the amlflow plugin's FastAPI app is mounted in the Airflow api-server.
PREFIX = "/amlflow"


def api_base_url(workspace: Any = None) -> str:
    """The Airflow api-server's URL: the workspace's, ``AMLFLOW_API_URL``, or ``[api] base_url``."""
    explicit = getattr(workspace, "api_url", None) or os.environ.get("AMLFLOW_API_URL")
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


def submit_url(workspace: Any, pipeline_id: str) -> str:
    return api_base_url(workspace) + submit_path(pipeline_id)
