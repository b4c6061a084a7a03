"""The HTTP layer of the client: Airflow's REST API v2 and amlflow's AML-compatible endpoint.

``PublishedPipeline``, ``Experiment``, ``PipelineRun`` and ``StepRun`` call this; they hold Azure ML's
API, this holds the routes. One ``AirflowClient`` per workspace object (``client_for``), one HTTP
session each, a token from the workspace's authentication (``AirflowTokenAuthentication`` by default).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from amlflow.api.urls import (
    COMPUTE_SERVICE,
    DATASET_SERVICE,
    DATASTORE_SERVICE,
    PREFIX,
    SERVICE,
    api_base_url,
    datastore_path,
    run_view_path,
    submit_path,
)
from amlflow.exceptions import AuthenticationException, ErrorResponseException, UserErrorException
from amlflow.responses import error_message

REQUEST_TIMEOUT_SECONDS = 30
#: How long a client waits for a definition to be parsed: beyond the server's own bound (its parse_timeout).
PARSE_WAIT_SECONDS = 300


def client_for(workspace: Any) -> AirflowClient:
    """The client of ``workspace`` (made on first use and kept on the workspace object)."""
    client = getattr(workspace, "_amlflow_client", None)
    if client is None:
        client = AirflowClient(workspace)
        workspace._amlflow_client = client
    return client


class AirflowClient:
    """Authenticated calls to one Airflow api-server."""

    def __init__(self, workspace: Any = None, auth: Any = None) -> None:
        from amlflow.core.authentication import AirflowTokenAuthentication

        self.base_url = api_base_url(workspace)
        self.auth = auth or getattr(workspace, "_auth", None) or AirflowTokenAuthentication(workspace=workspace)
        if hasattr(self.auth, "_bind"):
            self.auth._bind(workspace)
        self.session = requests.Session()

    def __repr__(self) -> str:
        return f"AirflowClient({self.base_url!r})"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict | None = None,
        data: bytes | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> Any:
        """The JSON answer of ``method path``; an error answer raises ErrorResponseException with its message.

        ``data`` is sent as the raw body (``application/octet-stream``) instead of ``json``.
        """
        send = {"json": json, "params": params, "data": data, "timeout": timeout}
        answer = self._send(method, path, **send)
        if answer.status_code == 401 and hasattr(self.auth, "_invalidate"):
            # Expired or revoked before its ``exp``: one new token, one retry.
            self.auth._invalidate()
            answer = self._send(method, path, **send)
        if answer.status_code >= 400:
            raise ErrorResponseException(answer.status_code, f"{method} {path}: {error_message(answer)}")
        return answer.json() if answer.content else None

    def _send(self, method: str, path: str, **send: Any) -> requests.Response:
        headers = self.auth.get_authentication_header()
        if send.get("data") is not None:
            headers = {**headers, "Content-Type": "application/octet-stream"}
        try:
            return self.session.request(method, self.base_url + path, headers=headers, **send)
        except requests.RequestException as error:
            raise ErrorResponseException(0, f"{method} {self.base_url}{path}: {error}") from None

    # -- the AML-compatible endpoint -----------------------------------------------------------------
    def submit(self, pipeline_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Submit a run of the published pipeline ``pipeline_id``."""
        return self.request("POST", submit_path(pipeline_id), json=body)

    def published_pipelines(self, active_only: bool = True) -> list[dict[str, Any]]:
        """The published pipelines (only the active ones unless ``active_only`` is false)."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PublishedPipelines", params={"activeOnly": active_only})

    def published_pipeline(self, pipeline_id: str) -> dict[str, Any]:
        """The published pipeline ``pipeline_id``'s entity."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PublishedPipelines/{quote(pipeline_id)}")

    def pipeline_run(self, run_id: str) -> dict[str, Any]:
        """The pipeline run ``run_id``'s entity."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PipelineRuns/{quote(run_id)}")

    def step_runs(self, run_id: str) -> list[dict[str, Any]]:
        """The step runs of the pipeline run ``run_id``."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PipelineRuns/{quote(run_id)}/StepRuns")

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel the pipeline run ``run_id``."""
        return self.request("POST", f"{PREFIX}{SERVICE}/PipelineRuns/{quote(run_id)}/Cancel")

    # -- pipelines sent from notebooks (amlflow.api.pipelines) --------------------------------------
    def missing_snapshots(self, hashes: list[str]) -> list[str]:
        """Which of ``hashes`` the deployment's bundle has no snapshot of (the ones to upload)."""
        return self.request("POST", f"{PREFIX}{SERVICE}/Snapshots/Missing", json={"Hashes": hashes})["Missing"]

    def put_snapshot(self, content_hash: str, archive: bytes) -> dict[str, Any]:
        """Upload a code snapshot's archive under its content hash."""
        return self.request("PUT", f"{PREFIX}{SERVICE}/Snapshots/{content_hash}", data=archive, timeout=600)

    def put_definition(self, dag_id: str, text: str) -> dict[str, Any]:
        """Send a definition; answers once the dag-processor made its DAG (it may take ``[amlflow] parse_timeout``)."""
        path = f"{PREFIX}{SERVICE}/PipelineDefinitions/{quote(dag_id)}"
        return self.request("PUT", path, json={"Definition": text}, timeout=PARSE_WAIT_SECONDS)

    def definition(self, dag_id: str) -> str:
        """The definition text of the pipeline ``dag_id`` sent from a notebook."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PipelineDefinitions/{quote(dag_id)}")["Definition"]

    def experiments(self) -> list[str]:
        """The names of the deployment's experiments."""
        return [entity["Name"] for entity in self.request("GET", f"{PREFIX}{SERVICE}/Experiments")]

    # -- pipeline endpoints, schedules and drafts (amlflow.api.endpoints, .schedules, .drafts) ---------
    def create_pipeline_endpoint(self, name: str, description: str | None, pipeline_id: str) -> dict[str, Any]:
        """Create a pipeline endpoint whose default version is ``pipeline_id``."""
        body = {"Name": name, "Description": description, "PipelineId": pipeline_id}
        return self._refusable("POST", f"{PREFIX}{SERVICE}/PipelineEndpoints", json=body)

    def pipeline_endpoint(self, endpoint_id: str | None = None, name: str | None = None) -> dict[str, Any]:
        """The pipeline endpoint with id ``endpoint_id`` (else named ``name``)."""
        if endpoint_id is not None:
            return self._refusable("GET", f"{PREFIX}{SERVICE}/PipelineEndpoints/Id/{quote(endpoint_id)}")
        return self._refusable("GET", f"{PREFIX}{SERVICE}/PipelineEndpoints/Name", params={"name": name})

    def pipeline_endpoints(self, active_only: bool = True) -> list[dict[str, Any]]:
        """The pipeline endpoints (only the active ones unless ``active_only`` is false)."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PipelineEndpoints", params={"activeOnly": active_only})

    def update_pipeline_endpoint(self, endpoint_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` (Azure ML's field names) to the pipeline endpoint ``endpoint_id``."""
        return self._refusable("PATCH", f"{PREFIX}{SERVICE}/PipelineEndpoints/Id/{quote(endpoint_id)}", json=changes)

    def submit_to_endpoint(self, endpoint_id: str, body: dict[str, Any], version: str | None = None) -> dict[str, Any]:
        """Submit a run of the endpoint's default pipeline, or of its ``version``."""
        path = f"{PREFIX}{SERVICE}/PipelineRuns/PipelineEndpointSubmit/Id/{quote(endpoint_id)}"
        params = {"pipelineVersion": version} if version is not None else None
        return self._refusable("POST", path, json=body, params=params)

    def create_schedule(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a schedule, waiting for the deployment to parse its DAG."""
        return self._refusable("POST", f"{PREFIX}{SERVICE}/Schedules", json=body, timeout=PARSE_WAIT_SECONDS)

    def schedule(self, schedule_id: str) -> dict[str, Any]:
        """The schedule ``schedule_id``'s entity."""
        return self._refusable("GET", f"{PREFIX}{SERVICE}/Schedules/{quote(schedule_id)}")

    def schedules(self, active_only: bool = True, **filters: str) -> list[dict[str, Any]]:
        """The schedules (only the active ones unless ``active_only`` is false), filtered by ``filters`` (snake_case
        names).
        """
        params = {"activeOnly": active_only, **{_camel(k): v for k, v in filters.items()}}
        return self.request("GET", f"{PREFIX}{SERVICE}/Schedules", params=params)

    def update_schedule(self, schedule_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to the schedule ``schedule_id``, waiting for its DAG to be redeployed."""
        path = f"{PREFIX}{SERVICE}/Schedules/{quote(schedule_id)}"
        return self._refusable("PATCH", path, json=changes, timeout=PARSE_WAIT_SECONDS)

    def schedule_runs(self, schedule_id: str) -> list[dict[str, Any]]:
        """The pipeline runs the schedule ``schedule_id`` started."""
        return self._refusable("GET", f"{PREFIX}{SERVICE}/PipelineRuns/Schedule/{quote(schedule_id)}")

    def create_draft(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a pipeline draft."""
        return self._refusable("POST", f"{PREFIX}{SERVICE}/PipelineDrafts", json=body)

    def draft(self, draft_id: str) -> dict[str, Any]:
        """The pipeline draft ``draft_id``."""
        return self._refusable("GET", f"{PREFIX}{SERVICE}/PipelineDrafts/{quote(draft_id)}")

    def drafts(self) -> list[dict[str, Any]]:
        """Every pipeline draft."""
        return self.request("GET", f"{PREFIX}{SERVICE}/PipelineDrafts")

    def update_draft(self, draft_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to the pipeline draft ``draft_id``."""
        return self._refusable("PATCH", f"{PREFIX}{SERVICE}/PipelineDrafts/{quote(draft_id)}", json=changes)

    def delete_draft(self, draft_id: str) -> None:
        """Delete the pipeline draft ``draft_id``."""
        self._refusable("DELETE", f"{PREFIX}{SERVICE}/PipelineDrafts/{quote(draft_id)}")

    def _refusable(self, method: str, path: str, **send: Any) -> Any:
        """A call whose 400, 404 or 409 is Azure ML's ValueError, with the deployment's message (what the SDK
        raises for an unknown endpoint, version, schedule or draft, and for a taken name)."""
        try:
            return self.request(method, path, **send)
        except ErrorResponseException as error:
            if error.status_code in (400, 404, 409):
                raise ValueError(error.message.split(": ", 1)[-1]) from None
            raise

    # -- the dataset registry (amlflow.api.datasets) ------------------------------------------------
    def save_dataset(self, definition: dict[str, Any]) -> str:
        """Save a dataset's definition in the registry, unregistered; answers its id."""
        return self._registry("POST", "saved", json={"definition": definition})["id"]

    def saved_dataset(self, saved_id: str) -> dict[str, Any]:
        """The saved definition ``saved_id`` with its registration record."""
        return self._registry("GET", f"saved/{quote(saved_id)}")

    def register_dataset(
        self,
        definition: dict[str, Any],
        name: str,
        description: str | None,
        tags: dict[str, str] | None,
        create_new_version: bool,
    ) -> dict[str, Any]:
        """Register a dataset's definition under ``name``; answers the registration record."""
        body = {"definition": definition, "name": name, "description": description, "tags": tags}
        return self._registry("POST", "datasets", json={**body, "create_new_version": create_new_version})

    def registered_dataset(self, name: str, version: Any = "latest") -> dict[str, Any]:
        """The dataset registered as ``name`` (a version number or ``latest``), definition and registration."""
        return self._registry("GET", f"datasets/{quote(name)}", params={"version": str(version or "latest")})

    def registered_datasets(self) -> dict[str, Any]:
        """Every registered dataset's latest version, by name."""
        return self._registry("GET", "datasets")

    def _registry(self, method: str, path: str, **send: Any) -> Any:
        """A registry call; the registry's refusal is Azure ML's UserErrorException with the registry's message."""
        try:
            return self.request(method, f"{PREFIX}{DATASET_SERVICE}/{path}", **send)
        except ErrorResponseException as error:
            if error.status_code in (400, 404):
                raise UserErrorException(error.message.split(": ", 1)[-1]) from None
            raise

    # -- datastores (amlflow.api.datastores) ---------------------------------------------------------
    def computes(self) -> list[dict[str, Any]]:
        """``{"Name", "ComputeType", "MaxNodes"}`` of every compute target the deployment has."""
        return self.request("GET", f"{PREFIX}{COMPUTE_SERVICE}/computes")

    def compute(self, name: str) -> dict[str, Any] | None:
        """The compute target ``name`` of the deployment, or None if it has none of that name."""
        try:
            return self.request("GET", f"{PREFIX}{COMPUTE_SERVICE}/computes/{quote(name)}")
        except ErrorResponseException as error:
            if error.status_code == 404:
                return None
            raise

    def datastores(self) -> list[dict[str, Any]]:
        """``{"Name", "DatastoreType"}`` of every datastore the deployment can list."""
        return self.request("GET", f"{PREFIX}{DATASTORE_SERVICE}/datastores")

    def datastore(self, name: str) -> dict[str, Any]:
        """``{"Name", "DatastoreType"}`` of datastore ``name``; Azure ML's UserErrorException if it is not
        registered on this deployment; any other failure says the check could not be made, and why."""
        path = datastore_path(name)
        cannot = f"cannot check whether datastore {name!r} is registered on the deployment at {self.base_url}"
        try:
            return self.request("GET", path)
        except AuthenticationException as error:
            raise AuthenticationException(f"{cannot}: {error}") from None
        except ErrorResponseException as error:
            detail = str(error).removeprefix(f"HTTP {error.status_code}: ").removeprefix(f"GET {path}: ")
            if error.status_code == 404:
                raise UserErrorException(detail) from None
            raise ErrorResponseException(error.status_code, f"{cannot}: {detail}") from None

    # -- Airflow's REST API v2 -----------------------------------------------------------------------
    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        """Pause or unpause the DAG ``dag_id``."""
        return self.request("PATCH", f"/api/v2/dags/{quote(dag_id)}", json={"is_paused": paused})

    def dag_runs(self, dag_id: str = "~", **filters: Any) -> list[dict[str, Any]]:
        """Every DAG run matching Airflow's list filters (``conf_contains``, ``order_by``...), page by page."""
        runs: list[dict[str, Any]] = []
        while True:
            params = {**filters, "limit": 100, "offset": len(runs)}
            page = self.request("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns", params=params)
            runs.extend(page["dag_runs"])
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def xcom_keys(self, dag_id: str, run_id: str, task_id: str) -> list[str]:
        """The XCom keys a task instance pushed."""
        answer = self.request("GET", f"{_task_path(dag_id, run_id, task_id)}/xcomEntries", params={"limit": 1000})
        return [entry["key"] for entry in answer["xcom_entries"]]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """The stored XCom value (for a step output: its DataLocation dict), or None if there is none."""
        try:
            answer = self.request("GET", f"{_task_path(dag_id, run_id, task_id)}/xcomEntries/{quote(key)}")
        except ErrorResponseException as error:
            if error.status_code == 404:
                return None
            raise
        return answer["value"]

    def run_view(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The pipeline view's JSON of a run: its steps with their status, reuse, outputs and metrics."""
        return self.request("GET", run_view_path(dag_id, run_id))

    def task_log(self, dag_id: str, run_id: str, task_id: str) -> str:
        """The log of a task's latest try, one line per event."""
        path = _task_path(dag_id, run_id, task_id)
        try_number = self.request("GET", path)["try_number"]
        content = self.request("GET", f"{path}/logs/{try_number}", params={"full_content": "true"})["content"]
        return "\n".join(_log_line(entry) for entry in content)

    def ui_run_url(self, dag_id: str, run_id: str) -> str:
        """The Airflow UI's page of the DAG run."""
        return f"{self.base_url}/dags/{quote(dag_id)}/runs/{quote(run_id)}"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _task_path(dag_id: str, run_id: str, task_id: str) -> str:
    return f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}"


def _log_line(entry: Any) -> str:
    """One structured log event (``{"timestamp", "level", "event", ...}``) as a line of text."""
    if not isinstance(entry, dict):
        return str(entry)
    head = " ".join(str(entry[key]) for key in ("timestamp", "level") if entry.get(key))
    return f"{head} {entry.get('event', '')}".strip()
