"""A local HTTP double of the Databricks REST endpoints the provider's hook calls (Jobs 2.2, DBFS 2.0, clusters).

No Databricks emulator exists; this double speaks the documented API (docs.databricks.com/api/azure/workspace):
``POST /api/2.2/jobs/runs/submit``, ``GET /api/2.2/jobs/runs/get``, ``GET /api/2.2/jobs/runs/get-output``,
``POST /api/2.2/jobs/runs/cancel``, ``POST /api/2.0/dbfs/{mkdirs,create,add-block,close,delete}``,
``GET /api/2.0/dbfs/{list,read,get-status}``, ``GET /api/2.0/workspace/export`` and
``GET /api/2.1/clusters/get``. It checks the bearer token,
validates each body against the documented request schema (400 ``INVALID_PARAMETER_VALUE`` otherwise, as
Databricks answers), honours ``idempotency_token``, and records every request so tests can assert what was
submitted and cancelled.

What a run does is played by a ``Play`` registered for its notebook, script or main class: how long it is
pending and running (``None``: it never ends), how it ends (``SUCCESS``/``FAILED``), its output, and an
optional ``work`` callable standing in for the notebook's code (it receives the submitted task, e.g. to read
its input URIs and write its outputs). The workspace holds every notebook a run may name: its source is
what ``notebooks`` has for its path, else a one-line stand-in naming it. ``fail_next`` makes the next calls
to an endpoint answer 5xx after doing their work, like a response lost on the way back.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

from tests.doubles import servers

_INT = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^\d+$"}]}
_STRINGS = {"type": "object", "additionalProperties": {"type": "string"}}
_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_DESTINATION = {
    "type": "object",
    "properties": {"destination": {"type": "string"}},
    "required": ["destination"],
    "additionalProperties": False,
}
_LIBRARY = {
    "type": "object",
    "minProperties": 1,
    "maxProperties": 1,
    "properties": {
        "jar": {"type": "string"},
        "egg": {"type": "string"},
        "whl": {"type": "string"},
        "requirements": {"type": "string"},
        "pypi": {
            "type": "object",
            "properties": {"package": {"type": "string"}, "repo": {"type": "string"}},
            "required": ["package"],
            "additionalProperties": False,
        },
        "cran": {
            "type": "object",
            "properties": {"package": {"type": "string"}, "repo": {"type": "string"}},
            "required": ["package"],
            "additionalProperties": False,
        },
        "maven": {
            "type": "object",
            "properties": {"coordinates": {"type": "string"}, "repo": {"type": "string"}, "exclusions": _STRING_LIST},
            "required": ["coordinates"],
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}
_NEW_CLUSTER = {
    "type": "object",
    "properties": {
        "spark_version": {"type": "string"},
        "node_type_id": {"type": "string"},
        "driver_node_type_id": {"type": "string"},
        "instance_pool_id": {"type": "string"},
        "num_workers": _INT,
        "autoscale": {
            "type": "object",
            "properties": {"min_workers": _INT, "max_workers": _INT},
            "required": ["min_workers", "max_workers"],
            "additionalProperties": False,
        },
        "spark_env_vars": _STRINGS,
        "spark_conf": _STRINGS,
        "custom_tags": _STRINGS,
        "init_scripts": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {k: _DESTINATION for k in ("dbfs", "workspace", "volumes", "abfss", "file")},
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": False,
            },
        },
        "cluster_log_conf": {
            "type": "object",
            "properties": {"dbfs": _DESTINATION},
            "additionalProperties": False,
        },
    },
    "required": ["spark_version"],
    "additionalProperties": False,
}
_TASK_KINDS = ("notebook_task", "spark_python_task", "spark_jar_task")
_TASK = {
    "type": "object",
    "properties": {
        "task_key": {"type": "string", "pattern": r"^[\w\-]{1,100}$"},
        "notebook_task": {
            "type": "object",
            "properties": {
                "notebook_path": {"type": "string", "minLength": 1},
                "base_parameters": _STRINGS,
                "source": {"enum": ["WORKSPACE", "GIT"]},
            },
            "required": ["notebook_path"],
            "additionalProperties": False,
        },
        "spark_python_task": {
            "type": "object",
            "properties": {
                "python_file": {"type": "string", "minLength": 1},
                "parameters": _STRING_LIST,
                "source": {"enum": ["WORKSPACE", "GIT"]},
            },
            "required": ["python_file"],
            "additionalProperties": False,
        },
        "spark_jar_task": {
            "type": "object",
            "properties": {"main_class_name": {"type": "string", "minLength": 1}, "parameters": _STRING_LIST},
            "required": ["main_class_name"],
            "additionalProperties": False,
        },
        "existing_cluster_id": {"type": "string"},
        "new_cluster": _NEW_CLUSTER,
        "libraries": {"type": "array", "items": _LIBRARY},
        "timeout_seconds": _INT,
    },
    "required": ["task_key"],
    "additionalProperties": False,
}
#: ``POST /api/2.2/jobs/runs/submit`` request body (the subset of fields amlflow may send).
SUBMIT_SCHEMA = {
    "type": "object",
    "properties": {
        "run_name": {"type": "string"},
        "timeout_seconds": _INT,
        "idempotency_token": {"type": "string", "maxLength": 64},
        "tasks": {"type": "array", "items": _TASK, "minItems": 1, "maxItems": 100},
        "access_control_list": {"type": "array"},
    },
    "required": ["tasks"],
    "additionalProperties": False,
}
_RUN_ID_BODY = {
    "type": "object",
    "properties": {"run_id": _INT},
    "required": ["run_id"],
    "additionalProperties": False,
}
_DBFS_SCHEMAS = {
    "mkdirs": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
    "create": {
        "type": "object",
        "properties": {"path": {"type": "string", "pattern": "^/"}, "overwrite": {"type": "boolean"}},
        "required": ["path"],
        "additionalProperties": False,
    },
    "add-block": {
        "type": "object",
        # Databricks refuses blocks over 1 MB of data (base64: 4/3 of that).
        "properties": {"handle": {"type": "integer"}, "data": {"type": "string", "maxLength": 1398104}},
        "required": ["handle", "data"],
        "additionalProperties": False,
    },
    "close": {
        "type": "object",
        "properties": {"handle": {"type": "integer"}},
        "required": ["handle"],
        "additionalProperties": False,
    },
    "delete": {
        "type": "object",
        "properties": {"path": {"type": "string", "pattern": "^/"}, "recursive": {"type": "boolean"}},
        "required": ["path"],
        "additionalProperties": False,
    },
}


@dataclass
class Play:
    """How a run goes. ``running=None`` never ends; ``work(task)`` plays the notebook's code."""

    result: str = "SUCCESS"
    pending: float = 0.5
    running: float | None = 2.0
    state_message: str = ""
    error: str | None = None
    error_trace: str | None = None
    notebook_result: str | None = None
    logs: str | None = None
    work: Callable[[dict[str, Any]], None] | None = None


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    query: dict[str, str]


@dataclass
class _Run:
    run_id: int
    task_run_id: int
    body: dict[str, Any]
    play: Play
    submitted: float
    cancelled_at: float | None = None
    outcome: tuple[str, str, str] | None = None  # (life cycle, result, message) once terminal
    error: str | None = None

    @property
    def task(self) -> dict[str, Any]:
        return self.body["tasks"][0]


@dataclass
class DatabricksDouble(servers.Served):
    token: str
    plays: dict[str, Play] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    clusters: dict[str, str] = field(default_factory=dict)
    dbfs: dict[str, bytes] = field(default_factory=dict)
    notebooks: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._runs: dict[int, _Run] = {}
        self._tokens: dict[str, int] = {}
        self._handles: dict[int, tuple[str, bytearray]] = {}
        self._modified: dict[str, int] = {}
        self._failures: dict[str, list[int]] = {}
        self._next_id = 1000
        self._server: ThreadingHTTPServer | None = None

    # -- what tests use ----------------------------------------------------------------------------
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    def play(self, entry: str, play: Play) -> None:
        """How runs of this notebook path, python file (its name) or main class go."""
        self.plays[entry] = play

    def write_dbfs(self, path: str, data: bytes) -> None:
        """Put a file on DBFS as an upload does (its modification time is now)."""
        with self._lock:
            self.dbfs[path] = data
            self._modified[path] = time.time_ns() // 1_000_000

    def fail_next(self, endpoint: str, times: int = 1, status: int = 500) -> None:
        """The next ``times`` calls to ``endpoint`` (``jobs/runs/submit``...) do their work, then answer ``status``."""
        self._failures.setdefault(endpoint, []).extend([status] * times)

    def calls(self, endpoint: str, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith(endpoint) and method in (None, r.method)]

    def submitted(self, entry: str) -> list[dict[str, Any]]:
        """Bodies of the runs/submit requests whose task runs ``entry`` (as ``play`` matches it)."""
        return [r.body for r in self.calls("jobs/runs/submit") if _entry_of(r.body["tasks"][0]) == entry]

    def runs_of(self, entry: str) -> list[int]:
        with self._lock:
            return [r.run_id for r in self._runs.values() if _entry_of(r.task) == entry]

    def state_of(self, run_id: int) -> dict[str, str]:
        with self._lock:
            return self._state(self._runs[run_id])

    def cancelled(self, run_id: int) -> bool:
        return any(int(r.body["run_id"]) == run_id for r in self.calls("jobs/runs/cancel"))

    # -- the API -------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        endpoint = path.removeprefix("/api/").split("/", 1)[-1]
        routes = {
            ("POST", "jobs/runs/submit"): self._submit,
            ("GET", "jobs/runs/get"): self._get,
            ("GET", "jobs/runs/get-output"): self._get_output,
            ("POST", "jobs/runs/cancel"): self._cancel,
            ("GET", "clusters/get"): self._cluster,
        }
        version = path.removeprefix("/api/").split("/", 1)[0]
        if endpoint.startswith("dbfs/") and version == "2.0" and method == "POST":
            route = self._dbfs
        elif endpoint.startswith("dbfs/") and version == "2.0" and method == "GET":
            route = self._dbfs_read
        elif (method, endpoint, version) == ("GET", "workspace/export", "2.0"):
            route = self._export
        elif version in ("2.1", "2.2") and (method, endpoint) in routes:
            route = routes[(method, endpoint)]
        else:
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for '{method} {path}'"}
        with self._lock:
            # A GET's fields come in the query string (requests) or, from the provider's async hook
            # (aiohttp), as a JSON body; Databricks reads either.
            status, answer = route(endpoint, {**body, **query} if method == "GET" else body)
            failures = self._failures.get(endpoint)
            if failures and status == 200:
                return failures.pop(0), {"error_code": "INTERNAL_ERROR", "message": "double: injected failure"}
        return status, answer

    def _submit(self, endpoint: str, body: Any) -> tuple[int, Any]:
        invalid = _invalid(body, SUBMIT_SCHEMA)
        if invalid:
            return invalid
        for task in body["tasks"]:
            kinds = [k for k in _TASK_KINDS if k in task]
            computes = [k for k in ("existing_cluster_id", "new_cluster") if k in task]
            if len(kinds) != 1 or len(computes) != 1:
                return 400, {
                    "error_code": "INVALID_PARAMETER_VALUE",
                    "message": f"task {task['task_key']}: one task type and one cluster, got {kinds + computes}",
                }
            cluster = task.get("new_cluster")
            if cluster and ("num_workers" in cluster) == ("autoscale" in cluster):
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "num_workers or autoscale"}
            if cluster and ("node_type_id" in cluster) == ("instance_pool_id" in cluster):
                return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": "node_type_id or instance_pool_id"}
        token = body.get("idempotency_token")
        if token in self._tokens:
            return 200, {"run_id": self._tokens[token]}
        entry = _entry_of(body["tasks"][0])
        run = _Run(self._new_id(), self._new_id(), body, self.plays.get(entry, Play()), time.monotonic())
        self._runs[run.run_id] = run
        if token:
            self._tokens[token] = run.run_id
        return 200, {"run_id": run.run_id}

    def _find(self, query: dict[str, Any]) -> _Run | tuple[int, Any]:
        invalid = _invalid(query, _RUN_ID_BODY)
        if invalid:
            return invalid
        run_id = int(query["run_id"])
        for run in self._runs.values():
            if run_id in (run.run_id, run.task_run_id):
                return run
        return 400, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"Run {run_id} does not exist."}

    def _get(self, endpoint: str, query: dict[str, Any]) -> tuple[int, Any]:
        run = self._find(query)
        if not isinstance(run, _Run):
            return run
        state = self._state(run)
        return 200, {
            "job_id": run.run_id + 1,
            "run_id": run.run_id,
            "run_name": run.body.get("run_name", "Untitled"),
            "run_type": "SUBMIT_RUN",
            "state": state,
            "run_page_url": self._page(run),
            "tasks": [
                {"run_id": run.task_run_id, "task_key": run.task["task_key"], "state": state, "attempt_number": 0}
            ],
        }

    def _get_output(self, endpoint: str, query: dict[str, Any]) -> tuple[int, Any]:
        run = self._find(query)
        if not isinstance(run, _Run):
            return run
        if int(query["run_id"]) == run.run_id:
            return 400, {
                "error_code": "INVALID_PARAMETER_VALUE",
                "message": "Retrieving the output of runs with multiple tasks is not supported. "
                "Please retrieve the output of each individual task run instead.",
            }
        state = self._state(run)
        answer: dict[str, Any] = {"metadata": {"run_id": run.task_run_id, "state": state}}
        if state.get("result_state") == "SUCCESS" and "notebook_task" in run.task:
            answer["notebook_output"] = {"result": run.play.notebook_result or "", "truncated": False}
        if run.play.logs is not None and "notebook_task" not in run.task:
            answer["logs"] = run.play.logs
        if run.error:
            answer["error"] = run.error
            if run.play.error_trace:
                answer["error_trace"] = run.play.error_trace
        return 200, answer

    def _cancel(self, endpoint: str, body: Any) -> tuple[int, Any]:
        run = self._find(body)
        if not isinstance(run, _Run):
            return run
        if run.outcome is None and run.cancelled_at is None:
            run.cancelled_at = time.monotonic()
        return 200, {}

    def _cluster(self, endpoint: str, query: dict[str, Any]) -> tuple[int, Any]:
        cluster_id = query.get("cluster_id")
        if cluster_id not in self.clusters:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Cluster {cluster_id} does not exist"}
        return 200, {"cluster_id": cluster_id, "state": self.clusters[cluster_id], "state_message": ""}

    def _dbfs(self, endpoint: str, body: Any) -> tuple[int, Any]:
        action = endpoint.removeprefix("dbfs/")
        if action not in _DBFS_SCHEMAS:
            return 404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No API found for 'POST /api/2.0/{endpoint}'"}
        invalid = _invalid(body, _DBFS_SCHEMAS[action])
        if invalid:
            return invalid
        if action == "mkdirs":
            return 200, {}
        if action == "delete":
            path = body["path"].rstrip("/")
            under = [p for p in self.dbfs if p.startswith(path + "/")]
            if under and not body.get("recursive"):
                return 400, {"error_code": "IO_ERROR", "message": f"{path} is a non-empty directory"}
            for name in [*under, path]:
                self.dbfs.pop(name, None)
            return 200, {}
        if action == "create":
            if body["path"] in self.dbfs and not body.get("overwrite"):
                return 400, {"error_code": "RESOURCE_ALREADY_EXISTS", "message": f"{body['path']} already exists."}
            handle = self._new_id()
            self._handles[handle] = (body["path"], bytearray())
            return 200, {"handle": handle}
        if body["handle"] not in self._handles:
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"Invalid handle {body['handle']}"}
        if action == "add-block":
            self._handles[body["handle"]][1].extend(base64.b64decode(body["data"]))
            return 200, {}
        path, data = self._handles.pop(body["handle"])
        self.write_dbfs(path, bytes(data))
        return 200, {}

    def _export(self, endpoint: str, query: dict[str, Any]) -> tuple[int, Any]:
        """``workspace/export`` of a notebook in ``SOURCE`` format: its source, base64-encoded."""
        path = str(query.get("path", ""))
        if query.get("format", "SOURCE") != "SOURCE" or not path.startswith("/"):
            return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"cannot export {path!r} that way"}
        source = self.notebooks.get(path, f"# Databricks notebook source\n# {path}\n")
        return 200, {"content": base64.b64encode(source.encode()).decode(), "file_type": "py"}

    def _dbfs_read(self, endpoint: str, query: dict[str, Any]) -> tuple[int, Any]:
        """``list`` (a folder's children, or the one file), ``get-status`` and ``read`` (at most 1 MB)."""
        action, path = endpoint.removeprefix("dbfs/"), str(query.get("path", "")).rstrip("/") or "/"
        missing = 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"No file or directory at {path}."}
        prefix = path.rstrip("/") + "/"
        children = sorted({p[len(prefix) :].split("/", 1)[0] for p in self.dbfs if p.startswith(prefix)})

        def status(item: str) -> dict[str, Any]:
            if item in self.dbfs:
                # A file a test put in ``dbfs`` directly has no upload time: it counts as written at 1 ms.
                modified = self._modified.get(item, 1)
                return {"path": item, "is_dir": False, "file_size": len(self.dbfs[item]), "modification_time": modified}
            return {"path": item, "is_dir": True, "file_size": 0, "modification_time": 1}

        if path not in self.dbfs and not children:
            return missing
        if action == "get-status":
            return 200, status(path)
        if action == "list":
            return 200, {"files": [status(path)] if path in self.dbfs else [status(prefix + c) for c in children]}
        if action == "read" and path in self.dbfs:
            offset, length = int(query.get("offset", 0)), min(int(query.get("length", 1 << 19)), 1 << 20)
            block = self.dbfs[path][offset : offset + length]
            return 200, {"bytes_read": len(block), "data": base64.b64encode(block).decode()}
        return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"cannot {action} {path}"}

    # -- how a run goes --------------------------------------------------------------------------
    def _state(self, run: _Run) -> dict[str, str]:
        if run.outcome is None:
            run.outcome = self._outcome(run)
        if run.outcome is None:
            elapsed = time.monotonic() - run.submitted
            life = "PENDING" if elapsed < run.play.pending else "RUNNING"
            return {"life_cycle_state": life, "state_message": "Waiting for cluster" if life == "PENDING" else ""}
        life, result, message = run.outcome
        return {"life_cycle_state": life, "result_state": result, "state_message": message}

    def _outcome(self, run: _Run) -> tuple[str, str, str] | None:
        play, now = run.play, time.monotonic()
        if run.cancelled_at is not None:
            return "TERMINATED", "CANCELED", "Run cancelled."
        timeout = int(run.body.get("timeout_seconds") or 0)
        if timeout and now - run.submitted > timeout:
            return "TERMINATED", "TIMEDOUT", f"Run timed out after {timeout} seconds."
        if play.running is None or now - run.submitted < play.pending + play.running:
            return None
        if play.result == "SUCCESS" and play.work is not None:
            try:
                play.work(run.task)
            except Exception as error:  # the notebook's code failed: the run fails with its error
                run.error = f"{type(error).__name__}: {error}"
                return "TERMINATED", "FAILED", "Workload failed, see run output for details"
        if play.result != "SUCCESS":
            run.error = play.error
            return "TERMINATED", play.result, play.state_message or "Workload failed, see run output for details"
        return "TERMINATED", "SUCCESS", play.state_message

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _page(self, run: _Run) -> str:
        return f"{self.url}/?o=1234567890#job/{run.run_id + 1}/run/{run.run_id}"


class _Handler(BaseHTTPRequestHandler):
    owner: DatabricksDouble

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self.headers.get("Authorization") != f"Bearer {self.owner.token}":
            return self._answer(401, {"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            return self._answer(400, {"error_code": "MALFORMED_REQUEST", "message": "Invalid JSON"})
        with self.owner._lock:
            self.owner.requests.append(Recorded(method, url.path, body, query))
        self._answer(*self.owner.handle(method, url.path, query, body))

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")


def _invalid(body: Any, schema: dict[str, Any]) -> tuple[int, Any] | None:
    try:
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        return 400, {"error_code": "INVALID_PARAMETER_VALUE", "message": f"{where}: {error.message}"}
    return None


def _entry_of(task: dict[str, Any]) -> str:
    if "notebook_task" in task:
        return task["notebook_task"]["notebook_path"]
    if "spark_python_task" in task:
        return task["spark_python_task"]["python_file"].rsplit("/", 1)[-1]
    return task["spark_jar_task"]["main_class_name"]
