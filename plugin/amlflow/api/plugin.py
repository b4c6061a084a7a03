"""``AmlflowPlugin``: the Airflow plugin that serves the AML-compatible pipeline service.

Registered through the ``airflow.plugins`` entry point (and listed in the provider info). Every Airflow
process loads plugins, task processes included, so this module imports only the plugin base class and
the standard-library middleware; the FastAPI app (and the api-server modules it needs) is built the
first time the api-server asks for it.
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from amlflow.api.nesting_guard import NestingGuard
from amlflow.api.urls import PIPELINES_PATH, PREFIX, RUN_PAGE_PATH
from amlflow.timetables.recurrence import RecurrenceTimetable


class _LazyApps:
    """``fastapi_apps``, built on first access, from the class or an instance alike."""

    def __init__(self) -> None:
        self._apps: list[dict[str, Any]] | None = None

    def __get__(self, instance: Any, owner: Any) -> list[dict[str, Any]]:
        if self._apps is None:
            from amlflow.api.app import create_app

            self._apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "amlflow pipeline service"}]
        return self._apps


class AmlflowPlugin(AirflowPlugin):
    """The Airflow plugin: the amlflow service's app, its nesting guard middleware, the recurrence timetable and
    the pipeline view's tab."""

    name = "amlflow"
    fastapi_apps = _LazyApps()  # type: ignore[assignment]
    fastapi_root_middlewares = [{"middleware": NestingGuard, "args": [], "kwargs": {}, "name": "amlflow nesting guard"}]
    timetables = [RecurrenceTimetable]
    # The run's pipeline view as a tab of every DAG run's page (Airflow fills in the ids, URL-encoded), and the
    # pipelines page in the UI's menu.
    external_views = [
        {
            "name": "Pipeline view",
            "href": (PREFIX + RUN_PAGE_PATH).lstrip("/").format(dag_id="{DAG_ID}", run_id="{RUN_ID}"),
            "destination": "dag_run",
            "url_route": "amlflow-pipeline-view",
        },
        {
            "name": "Pipelines",
            "href": (PREFIX + PIPELINES_PATH).lstrip("/"),
            "destination": "nav",
            "url_route": "amlflow-pipelines",
        },
    ]
