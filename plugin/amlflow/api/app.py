"""The AML-compatible pipeline service: a FastAPI app the Airflow api-server mounts at ``/amlflow``.

Routes (below ``/amlflow/pipelines/v1.0``, Azure ML's paths and JSON keys):

- ``POST PipelineRuns/PipelineSubmit/{id}``: start a run of published pipeline ``id``;
- ``GET PublishedPipelines``, ``GET PublishedPipelines/{id}``: the published pipelines the caller may read;
- ``GET PipelineRuns/{run_id}``: a run's status; ``GET PipelineRuns/{run_id}/StepRuns``: its steps;
- ``POST PipelineRuns/{run_id}/Cancel``: stop a run;
- ``GET /amlflow/view/v1.0/dags/{dag_id}/runs/{run_id}``: a run as the pipeline view shows it
  (``amlflow.api.pipeline_view``).

Every route needs an Airflow JWT (``Authorization: Bearer``) and asks Airflow's auth manager, exactly as
Airflow's own routes do. A run is created by Airflow's own ``trigger_dag_run`` handler, so Param
validation, run creation and audit logging are Airflow's. Errors come as Azure ML's
``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.common.dagbag import DagBagDep, create_dag_bag, get_latest_version_of_dag
from airflow.api_fastapi.common.db.common import SessionDep
from airflow.api_fastapi.core_api.datamodels.dag_run import DAGRunPatchBody, TriggerDAGRunPostBody
from airflow.api_fastapi.core_api.routes.public.dag_run import patch_dag_run, trigger_dag_run
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from airflow.models import DagModel, DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.models.xcom import XComModel
from airflow.utils.state import TaskInstanceState
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select

from amlflow.api import (
    computes,
    datasets,
    datastores,
    drafts,
    endpoints,
    entities,
    listings,
    pipeline_view,
    pipelines,
    schedules,
    view_pages,
)
from amlflow.api.submission import PipelineSubmission, SubmissionError, parse, to_conf
from amlflow.api.transactions import audit_log, committed
from amlflow.api.urls import COMPARE_PATH, PIPELINES_PATH, RUN_PAGE_PATH, SERVICE, request_base_url
from amlflow.runtime import run_conf
from amlflow.runtime.reuse import REUSE_XCOM_KEY

ERROR_CODES = {400: "UserError", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}


def create_app() -> FastAPI:
    """The service's app: Azure ML's pipeline REST routes, each with the Airflow access check it needs."""
    app = FastAPI(
        title="amlflow: Azure ML compatible pipeline service",
        description=__doc__,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.dag_bag = create_dag_bag()
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_api_route(
        f"{SERVICE}/PipelineRuns/PipelineSubmit/{{dag_id}}",
        submit_published_pipeline,
        methods=["POST"],
        dependencies=[Depends(requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN))],
    )
    app.add_api_route(f"{SERVICE}/PublishedPipelines", listings.list_published_pipelines, methods=["GET"])
    app.add_api_route(
        f"{SERVICE}/PublishedPipelines/{{dag_id}}",
        get_published_pipeline,
        methods=["GET"],
        dependencies=[Depends(requires_access_dag(method="GET"))],
    )
    app.add_api_route(f"{SERVICE}/PipelineRuns/{{run_id}}", get_pipeline_run, methods=["GET"])
    app.add_api_route(f"{SERVICE}/PipelineRuns/{{run_id}}/StepRuns", get_step_runs, methods=["GET"])
    app.add_api_route(f"{SERVICE}/PipelineRuns/{{run_id}}/Cancel", cancel_pipeline_run, methods=["POST"])
    app.add_api_route(f"{SERVICE}/Experiments", listings.list_experiments, methods=["GET"])
    app.add_api_route(datastores.PATH, datastores.get_datastore, methods=["GET"], dependencies=datastores.DEPENDENCIES)
    app.add_api_route(
        datastores.LIST_PATH, datastores.list_datastores, methods=["GET"], dependencies=datastores.DEPENDENCIES
    )
    app.add_api_route(computes.PATH, computes.get_compute, methods=["GET"], dependencies=computes.DEPENDENCIES)
    app.add_api_route(computes.LIST_PATH, computes.list_computes, methods=["GET"], dependencies=computes.DEPENDENCIES)
    app.add_api_route(datasets.LIST_PATH, datasets.list_registered, methods=["GET"], dependencies=datasets.READ)
    app.add_api_route(datasets.REGISTERED_PATH, datasets.get_registered, methods=["GET"], dependencies=datasets.READ)
    app.add_api_route(datasets.SAVED_PATH, datasets.get_saved, methods=["GET"], dependencies=datasets.READ)
    app.add_api_route(datasets.LIST_PATH, datasets.register, methods=["POST"], dependencies=datasets.WRITE)
    app.add_api_route(datasets.SAVE_PATH, datasets.save, methods=["POST"], dependencies=datasets.WRITE)
    deploy = [Depends(pipelines.requires_deploy)]
    app.add_api_route(
        f"{SERVICE}/Snapshots/Missing", pipelines.missing_snapshots, methods=["POST"], dependencies=deploy
    )
    app.add_api_route(
        f"{SERVICE}/Snapshots/{{content_hash}}", pipelines.put_snapshot, methods=["PUT"], dependencies=deploy
    )
    app.add_api_route(
        f"{SERVICE}/PipelineDefinitions/{{dag_id}}",
        pipelines.put_definition,
        methods=["PUT"],
        dependencies=deploy,
        status_code=status.HTTP_201_CREATED,
    )
    app.add_api_route(
        f"{SERVICE}/PipelineDefinitions/{{dag_id}}",
        pipelines.get_definition,
        methods=["GET"],
        dependencies=[Depends(requires_access_dag(method="GET"))],
    )
    _add_view_routes(app)
    _add_registry_routes(app)
    return app


def _add_view_routes(app: FastAPI) -> None:
    """The pipeline view: a run's JSON and its output files, and the pages (HTML) drawn from them."""
    read_runs = pipeline_view.DEPENDENCIES
    routes = [
        (pipeline_view.PATH, pipeline_view.get_run_view, read_runs, JSONResponse),
        (view_pages.DOWNLOAD_PATH, view_pages.download_output_file, read_runs, JSONResponse),
        (RUN_PAGE_PATH, view_pages.get_run_page, read_runs, HTMLResponse),
        (COMPARE_PATH, view_pages.get_compare_page, read_runs, HTMLResponse),
        (PIPELINES_PATH, view_pages.get_pipelines_page, [Depends(requires_access_dag(method="GET"))], HTMLResponse),
    ]
    for path, endpoint, dependencies, response_class in routes:
        app.add_api_route(path, endpoint, methods=["GET"], dependencies=dependencies, response_class=response_class)


def _add_registry_routes(app: FastAPI) -> None:
    """Pipeline endpoints (and submissions through them), schedules and drafts."""
    add = app.add_api_route
    run = [Depends(requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN))]
    add(endpoints.LIST_PATH, endpoints.create_endpoint, methods=["POST"], dependencies=endpoints.WRITE)
    add(endpoints.LIST_PATH, endpoints.list_endpoints, methods=["GET"], dependencies=endpoints.READ)
    add(endpoints.BY_NAME_PATH, endpoints.get_endpoint_by_name, methods=["GET"], dependencies=endpoints.READ)
    add(endpoints.BY_ID_PATH, endpoints.get_endpoint, methods=["GET"], dependencies=endpoints.READ)
    add(endpoints.BY_ID_PATH, endpoints.update_endpoint, methods=["PATCH"], dependencies=endpoints.WRITE)
    submit = f"{SERVICE}/PipelineRuns/PipelineEndpointSubmit"
    add(f"{submit}/Id/{{endpoint_id}}", submit_to_endpoint, methods=["POST"], dependencies=run)
    add(f"{submit}/Id/{{endpoint_id}}/{{version}}", submit_to_endpoint, methods=["POST"], dependencies=run)
    add(f"{submit}/Name", submit_to_endpoint_by_name, methods=["POST"], dependencies=run)
    add(schedules.LIST_PATH, schedules.create_schedule, methods=["POST"], dependencies=schedules.WRITE)
    add(schedules.LIST_PATH, schedules.list_schedules, methods=["GET"], dependencies=schedules.READ)
    add(schedules.ONE_PATH, schedules.get_schedule, methods=["GET"], dependencies=schedules.READ)
    add(schedules.ONE_PATH, schedules.update_schedule, methods=["PATCH"], dependencies=schedules.WRITE)
    add(schedules.RUNS_PATH, schedules.schedule_runs, methods=["GET"], dependencies=schedules.READ)
    add(drafts.LIST_PATH, drafts.create_draft, methods=["POST"], dependencies=drafts.WRITE)
    add(drafts.LIST_PATH, drafts.list_drafts, methods=["GET"], dependencies=drafts.READ)
    add(drafts.ONE_PATH, drafts.get_draft, methods=["GET"], dependencies=drafts.READ)
    add(drafts.ONE_PATH, drafts.update_draft, methods=["PATCH"], dependencies=drafts.WRITE)
    add(drafts.ONE_PATH, drafts.delete_draft, methods=["DELETE"], dependencies=drafts.WRITE, status_code=204)


def _error(status_code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    code = ERROR_CODES.get(status_code, "ServiceError")
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status_code, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    page = view_pages.page_error(request, exc)
    if page is not None:
        return page
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    return _error(exc.status_code, detail, getattr(exc, "headers", None))


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
    return _error(status.HTTP_400_BAD_REQUEST, "; ".join(parts))


async def _submission(request: Request) -> PipelineSubmission:
    """The parsed body; read here, after the auth dependencies, so a bad token is a 401 whatever the body."""
    try:
        return parse(await request.body())
    except SubmissionError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None


def _published_dag_model(dag_id: str, session: Any, *, submitted_too: bool = False) -> DagModel:
    """The published pipeline ``dag_id`` (or, with ``submitted_too``, one submitted to an experiment)."""
    dag_model = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id, ~DagModel.is_stale))
    found = dag_model is not None and (
        entities.is_published(dag_model) or (submitted_too and entities.is_submitted(dag_model))
    )
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"published pipeline {dag_id!r} not found")
    return dag_model


def submit_published_pipeline(
    dag_id: str,
    request: Request,
    submission: Annotated[PipelineSubmission, Depends(_submission)],
    _audit: Annotated[None, Depends(audit_log())],
    dag_bag: DagBagDep,
    user: GetUserDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Start a run of a published pipeline (or a submitted one) with Azure ML's ``PipelineSubmissionInfo`` body."""
    return committed(session, lambda: _submit(dag_id, request, submission, dag_bag, user, session))


def _submit(
    dag_id: str, request: Request, submission: PipelineSubmission, dag_bag: Any, user: Any, session: Any
) -> dict[str, Any]:
    dag_model = _published_dag_model(dag_id, session, submitted_too=True)
    if dag_model.is_paused:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"published pipeline {dag_id!r} is disabled: enable it (PublishedPipeline.enable() or unpause "
            "the DAG) to submit runs",
        )
    dag = get_latest_version_of_dag(dag_bag, dag_id, session)
    try:
        conf = to_conf(submission, dag)
    except SubmissionError as error:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
    body = TriggerDAGRunPostBody(
        dag_run_id=str(uuid.uuid4()),
        logical_date=None,
        conf=conf,
        # Shown with the run in the Airflow UI, where runs are found by experiment too.
        note="\n\n".join(filter(None, [f"Experiment: {submission.ExperimentName}", submission.Description])),
    )
    try:
        dag_run = trigger_dag_run(dag_id, body, dag_bag, user, session, request)
    except HTTPException as error:
        if error.status_code == 400 and str(error.detail).startswith("Invalid input for param "):
            # Airflow's Param validation message names the parameter; say which field of the body holds it.
            raise HTTPException(400, f"ParameterAssignments: {error.detail}") from None
        raise
    session.flush()
    return entities.pipeline_run_entity(dag_run, dag)


def submit_to_endpoint(
    endpoint_id: str,
    request: Request,
    submission: Annotated[PipelineSubmission, Depends(_submission)],
    _audit: Annotated[None, Depends(audit_log())],
    dag_bag: DagBagDep,
    user: GetUserDep,
    session: SessionDep,
    version: str | None = None,
    pipelineVersion: str | None = None,
) -> dict[str, Any]:
    """Start a run of a pipeline endpoint's version (``/{version}`` or ``?pipelineVersion=``; else its default)."""
    return _submit_to_record(
        endpoints.record_of(endpoint_id), version or pipelineVersion, request, submission, dag_bag, user, session
    )


def submit_to_endpoint_by_name(
    name: str,
    request: Request,
    submission: Annotated[PipelineSubmission, Depends(_submission)],
    _audit: Annotated[None, Depends(audit_log())],
    dag_bag: DagBagDep,
    user: GetUserDep,
    session: SessionDep,
    pipelineVersion: str | None = None,
) -> dict[str, Any]:
    """Start a run of the pipeline endpoint ``name`` (``?name=...&pipelineVersion=...``)."""
    return _submit_to_record(
        endpoints.record_by_name(name), pipelineVersion, request, submission, dag_bag, user, session
    )


def _submit_to_record(
    record: dict[str, Any],
    version: str | None,
    request: Request,
    submission: PipelineSubmission,
    dag_bag: Any,
    user: Any,
    session: Any,
) -> dict[str, Any]:
    dag_id = endpoints.resolve(record, version)
    requires_access_dag(method="POST", access_entity=DagAccessEntity.RUN, param_dag_id=dag_id)(request, user)
    return committed(session, lambda: _submit(dag_id, request, submission, dag_bag, user, session))


def get_published_pipeline(dag_id: str, request: Request, session: SessionDep, dag_bag: DagBagDep) -> dict[str, Any]:
    """The published pipeline ``dag_id`` as Azure ML's ``PublishedPipeline`` entity; 404 if it is not published."""
    dag_model = _published_dag_model(dag_id, session)
    dag = get_latest_version_of_dag(dag_bag, dag_id, session)
    return entities.published_pipeline_entity(dag_model, dag, request_base_url(request))


def _authorized_run(run_id: str, request: Request, user: Any, session: Any, method: str = "GET") -> DagRun:
    """The run with this id (ids this endpoint makes are UUIDs), once the caller may ``method`` its DAG's runs."""
    runs = list(session.scalars(select(DagRun).where(DagRun.run_id == run_id).limit(2)))
    if not runs:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"pipeline run {run_id!r} not found")
    if len(runs) > 1:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"run id {run_id!r} names runs of several pipelines; use Airflow's REST API with the DAG id",
        )
    requires_access_dag(method=method, access_entity=DagAccessEntity.RUN, param_dag_id=runs[0].dag_id)(request, user)
    return runs[0]


def get_pipeline_run(
    run_id: str, request: Request, user: GetUserDep, session: SessionDep, dag_bag: DagBagDep
) -> dict[str, Any]:
    """A run's status as Azure ML's PipelineRunEntity."""
    dag_run = _authorized_run(run_id, request, user, session)
    dag = dag_bag.get_dag_for_run(dag_run, session=session)
    return entities.pipeline_run_entity(dag_run, dag, _failed_steps(dag_run, session))


def _failed_steps(dag_run: DagRun, session: Any) -> list[str]:
    query = select(TaskInstance.task_id).where(
        TaskInstance.dag_id == dag_run.dag_id,
        TaskInstance.run_id == dag_run.run_id,
        TaskInstance.state == TaskInstanceState.FAILED,
    )
    return sorted(session.scalars(query))


def get_step_runs(run_id: str, request: Request, user: GetUserDep, session: SessionDep) -> list[dict[str, Any]]:
    """Each step of the run, in the order the steps started (not started yet: last, by name)."""
    dag_run = _authorized_run(run_id, request, user, session)
    tis = session.scalars(
        select(TaskInstance).where(TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == run_id)
    ).all()
    reuse = {
        row.task_id: row.value
        for row in session.scalars(
            select(XComModel).where(
                XComModel.dag_id == dag_run.dag_id, XComModel.run_id == run_id, XComModel.key == REUSE_XCOM_KEY
            )
        )
    }
    steps = [ti for ti in tis if entities.is_step_task(ti)]
    ordered = sorted(steps, key=lambda ti: (ti.start_date is None, ti.start_date or 0, ti.task_id))
    return [entities.step_run_entity(ti, _reuse_value(reuse.get(ti.task_id))) for ti in ordered]


def _reuse_value(value: Any) -> dict[str, Any] | None:
    value = entities.xcom_value(value)
    return value if isinstance(value, dict) else None


def cancel_pipeline_run(
    run_id: str,
    request: Request,
    _audit: Annotated[None, Depends(audit_log())],
    user: GetUserDep,
    session: SessionDep,
    dag_bag: DagBagDep,
) -> dict[str, Any]:
    """Stop a run as Airflow's "mark failed" does, and remember it was canceled (status ``Canceled``)."""
    return committed(session, lambda: _cancel(run_id, request, user, session, dag_bag))


def _cancel(run_id: str, request: Request, user: Any, session: Any, dag_bag: Any) -> dict[str, Any]:
    dag_run = _authorized_run(run_id, request, user, session, method="PUT")
    if str(dag_run.state) in ("success", "failed"):
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"pipeline run {run_id!r} has already ended ({dag_run.state}); nothing to cancel"
        )
    conf = dict(dag_run.conf or {})
    conf[run_conf.KEY] = {**run_conf.section(conf), "canceled": {"by": user.get_name()}}
    dag_run.conf = conf
    session.flush()
    patch_dag_run(dag_run.dag_id, run_id, DAGRunPatchBody(state="failed"), session, dag_bag, user, None)
    session.flush()
    session.refresh(dag_run)
    dag = dag_bag.get_dag_for_run(dag_run, session=session)
    return entities.pipeline_run_entity(dag_run, dag, _failed_steps(dag_run, session))
