"""The pipeline view's pages in Airflow's UI, and the download of a run's output files.

- ``GET /amlflow/view/dags/{dag_id}/runs/{run_id}``: the run's page (``amlflow.api.view_html``); Airflow's UI
  shows it as the "Pipeline view" tab of a DAG run (the plugin's external view), and task instances link to
  it (``amlflow.extra_links``).
- ``GET /amlflow/view/dags/{dag_id}/compare?run=<id>&run=<id>``: runs of one pipeline side by side.
- ``GET /amlflow/view/pipelines``: the published pipelines the user may read, with their latest runs, their
  endpoints and schedules, and the experiments ("Pipelines" in the UI's menu).
- ``GET /amlflow/view/v1.0/dags/{dag_id}/runs/{run_id}/steps/{step}/outputs/{output}/files/{path}``: one
  file of a step's output, as an attachment.

All are behind Airflow's login (the UI's ``_token`` cookie or a bearer token); a run's pages need read
access to the DAG's runs. A browser without a login is sent to Airflow's login page and back.
"""

from __future__ import annotations

import mimetypes
import posixpath
import urllib.parse
from typing import Annotated, Any

from airflow.api_fastapi.common.dagbag import DagBagDep
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.security import GetUserDep
from airflow.models import DagRun
from fastapi import HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from amlflow.api import endpoints, listings, pipeline_view, schedules, view_html
from amlflow.api.urls import PREFIX, run_view_path
from amlflow.exceptions import DatastoreError
from amlflow.storage.base import join
from amlflow.storage.names import relative_path_problem
from amlflow.storage.registry import get_backend

#: An output's files, under a run's JSON route: the download route, and the page's download links.
_OUTPUT_FILES = "/steps/{step}/outputs/{output}/files/"
DOWNLOAD_PATH = pipeline_view.PATH + _OUTPUT_FILES + "{path:path}"

#: Runs shown per pipeline on the pipelines page, newest first.
RECENT_RUNS = 5

#: Larger files are not sent through the api-server: the page says where they are instead.
MAX_DOWNLOAD_BYTES = 100 * 1024 * 1024


def get_run_page(dag_id: str, run_id: str, session: SessionDep, dag_bag: DagBagDep) -> HTMLResponse:
    """The page of run ``run_id`` of ``dag_id``."""
    view = pipeline_view.get_run_view(dag_id, run_id, session, dag_bag)
    files = {
        (step["name"], output): _listed_files(location["datastore"], location["path"])
        for step in view["steps"]
        for output, location in step["outputs"].items()
    }
    return HTMLResponse(view_html.run_page(view, files, _links(dag_id, run_id)))


def get_pipelines_page(request: Request, user: GetUserDep, session: SessionDep, dag_bag: DagBagDep) -> HTMLResponse:
    """The published pipelines the user may read, with their latest runs; their endpoints and schedules; the
    experiments."""
    published = listings.list_published_pipelines(request, user, session, dag_bag, activeOnly=False)
    ids = {pipeline["Id"] for pipeline in published}
    recent = {dag_id: _latest_run_ids(session, dag_id) for dag_id in ids}
    shown_endpoints = [
        e
        for e in endpoints.list_endpoints(request, activeOnly=False)
        if {v["PipelineId"] for v in e["PipelineVersionList"]} <= ids
    ]
    endpoint_ids = {e["Id"] for e in shown_endpoints}
    shown_schedules = [
        s
        for s in schedules.list_schedules(activeOnly=False)
        if s.get("pipeline_id") in ids or s.get("pipeline_endpoint_id") in endpoint_ids
    ]
    experiments = [entry["Name"] for entry in listings.list_experiments(user, session)]
    page = view_html.pipelines_page(published, recent, shown_endpoints, shown_schedules, experiments)
    return HTMLResponse(page)


def _latest_run_ids(session: Any, dag_id: str) -> list[str]:
    query = select(DagRun.run_id).where(DagRun.dag_id == dag_id).order_by(DagRun.id.desc()).limit(RECENT_RUNS)
    return list(session.scalars(query))


def get_compare_page(
    dag_id: str, run: Annotated[list[str], Query()], session: SessionDep, dag_bag: DagBagDep
) -> HTMLResponse:
    """Runs ``run`` (two or more, repeated in the query) of ``dag_id`` side by side."""
    if len(run) < 2:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "run: name two runs or more (?run=<id>&run=<id>)")
    views = [pipeline_view.get_run_view(dag_id, run_id, session, dag_bag) for run_id in run]
    return HTMLResponse(view_html.compare_page(views))


def _links(dag_id: str, run_id: str) -> dict[str, str]:
    """The page's links, from the server's root: the page is opened from Airflow's UI on the same server."""
    return {
        "ui": "/",
        "download": run_view_path(dag_id, run_id) + _OUTPUT_FILES + "{file}",
    }


def _listed_files(datastore: str, path: str) -> list[tuple[str, int]] | str:
    """The first files under an output (one more than the page shows, so it can say there are more), or why
    the datastore could not list them: the rest of the page is still worth showing."""
    try:
        found = get_backend(datastore).list_files(path)
    except DatastoreError as error:
        return str(error)
    return [(posixpath.relpath(info.path, path), info.size) for info in found[: view_html.FILES_SHOWN + 1]]


def download_output_file(dag_id: str, run_id: str, step: str, output: str, path: str, session: SessionDep) -> Response:
    """File ``path`` of the output; only a file that lies under the output's location, never around it."""
    problem = relative_path_problem(path)
    if problem:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, f"path: {problem}")
    location = pipeline_view.output_location(session, dag_id, run_id, step, output)
    backend = get_backend(location.datastore)
    full = join(location.path, path)
    info = next((found for found in backend.list_files(full) if found.path == full), None)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"output {output!r} of step {step!r} has no file {path!r}")
    if info.size > MAX_DOWNLOAD_BYTES:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            f"{path!r} is {info.size:,} bytes, more than the {MAX_DOWNLOAD_BYTES:,} the view sends: read it from "
            f"{backend.uri(full)} (Datastore.download or OutputFileDatasetConfig's dataset)",
        )
    return Response(
        backend.read_bytes(full),
        media_type=mimetypes.guess_type(path)[0] or "application/octet-stream",
        headers={"Content-Disposition": _attachment(posixpath.basename(path))},
    )


def _attachment(name: str) -> str:
    return f"attachment; filename*=UTF-8''{urllib.parse.quote(name)}"


def page_error(request: Request, error: HTTPException) -> Response | None:
    """The answer to a refused request for a page (None for the JSON routes): a browser without a login goes
    to Airflow's login page, which sends it back; any other refusal is a page that says why."""
    path = request.url.path
    if not path.startswith(PREFIX + "/view/") or path.startswith(PREFIX + "/view/v1.0/"):
        return None
    if error.status_code == status.HTTP_401_UNAUTHORIZED:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)), status.HTTP_303_SEE_OTHER)
    return HTMLResponse(view_html.error_page(error.status_code, str(error.detail)), error.status_code)
