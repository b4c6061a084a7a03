"""Extra links of amlflow's step tasks in Airflow's UI: the run's pipeline view, and the step's outputs in it.

The worker stores each link when the task ends (Airflow's ``_link_<class>`` XCom); a link is a path from the
api-server's root, or a full URL under ``[api] base_url`` where that is set.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from airflow.sdk import BaseOperatorLink

from amlflow.api.urls import run_page_path


def pipeline_view_url(dag_id: str, run_id: str) -> str:
    """The pipeline view page of run ``run_id`` of ``dag_id``."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return base + run_page_path(dag_id, run_id)


class PipelineViewLink(BaseOperatorLink):
    """The run's page in the pipeline view: every step, its status, reuse, outputs and metrics."""

    name = "Pipeline view"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The page of the task's run."""
        return pipeline_view_url(ti_key.dag_id, ti_key.run_id)


class StepOutputsLink(BaseOperatorLink):
    """This step in the run's page: its outputs' locations with their files to download, and its metrics."""

    name = "Step outputs"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        """The task's step in the page of its run."""
        return f"{pipeline_view_url(ti_key.dag_id, ti_key.run_id)}#step-{urllib.parse.quote(ti_key.task_id)}"


STEP_LINKS = (PipelineViewLink(), StepOutputsLink())
