"""A real Airflow deployment on this machine: api-server, scheduler, dag-processor and triggerer.

Used by ``make demo`` (``scripts/demo.py``), ``make stop`` (``scripts/stop.py``), the integration-test
fixture (``tests/fixtures/airflow_stack.py``) and the benchmarks. One ``Stack`` is one AIRFLOW_HOME:

- ``Stack.prepare(home, port=...)`` writes ``airflow.cfg`` (SQLite, LocalExecutor, amlflow's XCom backend
  and DAG discovery, SimpleAuthManager with the given users and a pre-written passwords file, every
  server on 127.0.0.1) and a ``stack.json`` that ``Stack.load(home)`` reads back. With ``workers`` it is
  a CeleryExecutor deployment instead: one Celery worker per entry, each with its own AIRFLOW_HOME,
  working directory, temp folder and bundle copies, as if on a machine of its own (the database, broker
  and bundles come from ``config``);
- ``start()`` migrates the database, creates the compute-target pools (``amlflow pools sync``), starts
  the four components as separate process groups, writes their PID files and waits until
  ``/api/v2/monitor/health`` reports every component healthy;
- ``stop()`` stops exactly the processes of its PID files (and what they spawned), nothing found by name.

Importing this module and stopping a stack need only the standard library, so ``make stop`` runs
without the virtualenv; starting one needs the Airflow of ``sys.executable``'s environment.
"""

from __future__ import annotations

import base64
import compileall
import contextlib
import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

#: The Airflow components, in start order, with the arguments that keep them on loopback: log servers
#: would bind every interface (``--skip-serve-logs``); the api-server gets its host and port from the config.
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
TERMINAL_RUN_STATES = {"success", "failed"}
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
#: ``[amlflow] pipeline_bundle``'s default: the bundle name of pipelines sent from notebooks.
PIPELINE_BUNDLE = "amlflow-pipelines"
STATE_FILE = "stack.json"
#: The repository (scripts/..): workers import ``scripts.stack.worker_hostname`` from it.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORDS_FILE = "passwords.json"


def write_bytecode() -> None:
    """Bring the bytecode of amlflow's own modules up to date before Airflow's processes import them.

    An editable install writes none, and where ``PYTHONDONTWRITEBYTECODE`` is set (as in many containers)
    no import ever does: every task process would compile all of amlflow again (about 0.1 s of each task's
    start-up, measured with benchmarks/parallel_run.py). Only modules changed since their last compile are
    compiled.
    """
    import amlflow

    compileall.compile_dir(os.path.dirname(os.path.dirname(amlflow.__file__)), quiet=1)  # amlflow, amlflow_user


class StackError(RuntimeError):
    """A stack could not be prepared, started or reached; the message says which component and why."""


@dataclass
class Stack:
    """One Airflow deployment: its home, port, users and the processes it started.

    ``users`` maps user name -> SimpleAuthManager role (``viewer``, ``user``, ``op``, ``admin``);
    ``passwords`` maps user name -> password (written to the passwords file, so tokens are predictable).
    """

    home: str
    port: int
    dags_folder: str
    users: dict[str, str]
    passwords: dict[str, str]
    parallelism: int = 3
    extra_env: dict[str, str] = field(default_factory=dict)
    #: Celery worker name -> the queues it serves; none: the LocalExecutor
    workers: dict[str, list[str]] = field(default_factory=dict)

    # -- setting up ---------------------------------------------------------------------------------
    @classmethod
    def prepare(
        cls,
        home: str,
        port: int | None = None,
        *,
        dags_folder: str | None = None,
        users: dict[str, str] | None = None,
        passwords: dict[str, str] | None = None,
        parallelism: int = 3,
        config: dict[str, dict[str, str]] | None = None,
        extra_env: dict[str, str] | None = None,
        workers: dict[str, list[str]] | None = None,
    ) -> Stack:
        """Write the configuration of a stack in ``home`` (created if missing); start nothing.

        ``port`` None picks a free one. ``passwords`` None keeps the passwords already in the home's
        passwords file and generates random ones for users that have none. ``config`` adds or overrides
        ``airflow.cfg`` options (``{"section": {"option": "value"}}``). ``extra_env`` is added to the
        environment of every component and CLI command (e.g. ``AIRFLOW_CONN_*``). ``workers`` maps Celery
        worker names to their queues (``config`` then gives ``[database]`` and ``[celery]``).
        """
        home = os.path.abspath(home)
        os.makedirs(home, exist_ok=True)
        users = dict(users or {"admin": "admin"})
        existing = _read_json(os.path.join(home, PASSWORDS_FILE)) or {}
        if passwords is None:
            passwords = {u: existing.get(u) or base64.urlsafe_b64encode(os.urandom(12)).decode() for u in users}
        missing = sorted(set(users) - set(passwords))
        if missing:
            raise StackError(f"no password for user(s) {', '.join(missing)}")
        stack = cls(
            home=home,
            port=port or free_port(),
            dags_folder=os.path.abspath(dags_folder or os.path.join(home, "dags")),
            users=users,
            passwords={u: passwords[u] for u in users},
            parallelism=parallelism,
            extra_env=dict(extra_env or {}),
            workers={name: list(queues) for name, queues in (workers or {}).items()},
        )
        os.makedirs(stack.dags_folder, exist_ok=True)
        os.makedirs(stack.pipeline_bundle, exist_ok=True)
        os.makedirs(stack.run_dir, exist_ok=True)
        _write_private(os.path.join(home, PASSWORDS_FILE), json.dumps(stack.passwords, indent=1))
        stack._write_config(config or {})
        _write_private(os.path.join(home, STATE_FILE), json.dumps(asdict(stack), indent=1))
        return stack

    @classmethod
    def load(cls, home: str) -> Stack | None:
        """The stack prepared in ``home`` earlier, or None if there is none."""
        state = _read_json(os.path.join(os.path.abspath(home), STATE_FILE))
        return cls(**state) if state else None

    def _write_config(self, overrides: dict[str, dict[str, str]]) -> None:
        previous = _read_ini(self.config_path)
        # Secrets persist across prepare() calls: a restarted component must verify tokens issued before.
        secret = previous.get("api_auth", {}).get("jwt_secret") or base64.b64encode(os.urandom(24)).decode()
        fernet = previous.get("core", {}).get("fernet_key") or base64.urlsafe_b64encode(os.urandom(32)).decode()
        api_secret = previous.get("api", {}).get("secret_key") or base64.b64encode(os.urandom(16)).decode()
        sections: dict[str, dict[str, str]] = {
            "core": {
                "dags_folder": self.dags_folder,
                "executor": "CeleryExecutor" if self.workers else "LocalExecutor",
                # LocalExecutor forks this many workers at start; Airflow's default (32) costs ~1 GB.
                "parallelism": str(self.parallelism),
                "load_examples": "False",
                "xcom_backend": "amlflow.xcom.PipelineDataXComBackend",
                "might_contain_dag_callable": "amlflow.discovery.might_contain_dag",
                "auth_manager": "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                "simple_auth_manager_users": ",".join(f"{u}:{r}" for u, r in self.users.items()),
                "simple_auth_manager_passwords_file": os.path.join(self.home, PASSWORDS_FILE),
                "execution_api_server_url": f"{self.url}/execution/",
                "fernet_key": fernet,
            },
            "database": {"sql_alchemy_conn": f"sqlite:///{self.sqlite_path}"},
            "api": {"host": "127.0.0.1", "port": str(self.port), "workers": "1", "secret_key": api_secret},
            "api_auth": {"jwt_secret": secret},
            "logging": {"base_log_folder": os.path.join(self.home, "logs")},
            "dag_processor": {
                # New files are noticed within 2 s; changed files are re-parsed as soon as the queue
                # empties (mtime newer than the last parse), so the 30 s re-parse interval can stay.
                "refresh_interval": "2",
                "bundle_refresh_check_interval": "1",
                "print_stats_interval": "300",
                # Bundles that copy their files (DatastoreDagBundle) keep them here, apart from other homes.
                "dag_bundle_storage_path": os.path.join(self.home, "dag-bundles"),
                # The DAG folder, and the bundle pipelines sent from notebooks are written into.
                "dag_bundle_config_list": json.dumps(
                    [
                        {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                        {"name": PIPELINE_BUNDLE, "classpath": LOCAL_BUNDLE, "kwargs": {"path": self.pipeline_bundle}},
                    ]
                ),
            },
            "scheduler": {"scheduler_heartbeat_sec": "1"},
            "amlflow": {"local_datastore_root": self.datastore_root},
        }
        for section, options in overrides.items():
            sections.setdefault(section, {}).update(options)
        text = "".join(
            f"[{section}]\n" + "".join(f"{k} = {v}\n" for k, v in options.items()) + "\n"
            for section, options in sections.items()
        )
        _write_private(self.config_path, text)

    # -- where things are ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> str:
        return os.path.join(self.home, "airflow.cfg")

    @property
    def sqlite_path(self) -> str:
        """The embedded metadata database (unless ``config`` names another)."""
        return os.path.join(self.home, "airflow.db")

    @property
    def run_dir(self) -> str:
        """PID files and component logs."""
        return os.path.join(self.home, "run")

    @property
    def pipeline_bundle(self) -> str:
        """The folder of the DAG bundle that pipelines submitted or published from notebooks go to."""
        return os.path.join(self.home, "pipeline-bundle")

    @property
    def datastore_root(self) -> str:
        """``[amlflow] local_datastore_root``: datastores without a connection are folders here."""
        return os.path.join(self.home, "datastores")

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this deployment (CLI commands, scripts, components).

        Inherited ``AIRFLOW__*`` settings are dropped: they would override this home's ``airflow.cfg``.
        """
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__") and k != "AIRFLOW_CONFIG"}
        env.update(AIRFLOW_HOME=self.home, AIRFLOW_CONFIG=self.config_path, AMLFLOW_API_URL=self.url)
        env.update(self.extra_env)
        return env

    def components(self) -> dict[str, list[str]]:
        """Every process this stack starts, by name: Airflow's components, then its Celery workers."""
        workers = {
            f"worker-{name}": [
                "celery",
                "worker",
                "--queues",
                ",".join(queues),
                "--concurrency",
                "2",
                "--celery-hostname",
                f"{name}@%h",
                "--skip-serve-logs",
                "--without-gossip",
            ]
            for name, queues in self.workers.items()
        }
        return {**COMPONENTS, **workers}

    def worker_home(self, name: str) -> str:
        """A worker's own AIRFLOW_HOME: its logs, bundle copies, snapshot cache, temp and working folder."""
        return os.path.join(self.home, "workers", name)

    def _component_env(self, name: str) -> dict[str, str]:
        if name in COMPONENTS:
            return self.env
        home = self.worker_home(name.removeprefix("worker-"))
        for folder in ("logs", "dag-bundles", "tmp"):
            os.makedirs(os.path.join(home, folder), exist_ok=True)
        return {
            **self.env,
            "AIRFLOW_HOME": home,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": os.path.join(home, "logs"),
            "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": os.path.join(home, "dag-bundles"),
            "TMPDIR": os.path.join(home, "tmp"),
            # The workers share this machine's name: each reports its own as its tasks' hostname.
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "scripts.stack.worker_hostname",
            "AMLFLOW_WORKER_NAME": name.removeprefix("worker-"),
            "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        }

    def command(self, name: str) -> str:
        """Path of a console script (``airflow``, ``amlflow``) of the running Python's environment."""
        return os.path.join(os.path.dirname(sys.executable), name)

    def run_cli(self, *args: str, tool: str = "airflow", timeout: float = 300) -> subprocess.CompletedProcess:
        """Run ``airflow <args>`` (or another tool) against this deployment; raise with its output if it fails."""
        result = subprocess.run(
            [self.command(tool), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise StackError(f"`{tool} {' '.join(args)}` failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return result

    # -- running ------------------------------------------------------------------------------------
    def start(self, timeout: float = 180) -> None:
        """Migrate the database, sync pools, start every component and wait until all are healthy."""
        if self.running():
            raise StackError(f"a stack is already running from {self.home}; stop it first")
        if port_in_use(self.port):
            raise StackError(f"port {self.port} on 127.0.0.1 is in use; choose another (AMLFLOW_DEMO_PORT)")
        write_bytecode()
        self.run_cli("db", "migrate")
        if any(name.endswith(".py") for _, _, names in os.walk(self.dags_folder) for name in names):
            # Pools of the compute targets the pipelines use; an empty DAG folder has none (saves a CLI start).
            self.run_cli("pools", "sync", tool="amlflow")
        try:
            for name, args in self.components().items():
                self._spawn(name, args)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, args: list[str]) -> None:
        env = self._component_env(name)
        log = open(os.path.join(self.run_dir, f"{name}.log"), "ab")  # noqa: SIM115 - the child keeps it
        with log:
            process = subprocess.Popen(
                [self.command("airflow"), *args],
                env=env,
                cwd=env["AIRFLOW_HOME"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: stop() signals the component and every worker it forked.
                start_new_session=True,
            )
        write_pid_file(self.run_dir, name, process.pid, ["airflow", *args])

    def _pid_file(self, name: str) -> str:
        return os.path.join(self.run_dir, f"{name}.pid")

    def processes(self) -> dict[str, int]:
        """Component name -> PID, for the components of this stack that are alive now."""
        alive = {}
        for name in self.components():
            record = _read_json(self._pid_file(name))
            if record and _is_same_process(record["pid"], record.get("start_time")):
                alive[name] = record["pid"]
        return alive

    def running(self) -> bool:
        return bool(self.processes())

    def health(self) -> dict[str, Any] | None:
        """``/api/v2/monitor/health`` as a dict, or None while the api-server does not answer."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=5) as response:
                return json.load(response)
        except (OSError, ValueError):
            return None

    def healthy(self) -> bool:
        health = self.health()
        return bool(health) and all(part.get("status") == "healthy" for part in health.values())

    def wait_healthy(self, timeout: float = 180) -> None:
        """Wait until every component reports healthy; fail early, with its log, if one exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [name for name in self.components() if name not in self.processes()]
            if dead:
                raise StackError(f"airflow {dead[0]} exited during start-up:\n{self.log_tail(dead[0])}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise StackError(f"not healthy after {timeout:.0f} s: {self.health()}\n{self.log_tail('api-server')}")

    def stop_component(self, name: str, timeout: float = 180) -> None:
        """Stop one component as an init system does (SIGTERM to its process group); wait until it exits.

        A scheduler first lets its running tasks end.
        """
        record = self._running_record(name)
        _signal_group(record["pid"], signal.SIGTERM)
        self._wait_exit(name, record, timeout, "SIGTERM")

    def kill_component(self, name: str, timeout: float = 30) -> None:
        """Kill one component and everything it started at once (SIGKILL), as when its machine is lost.

        Its descendants too: step scripts run in sessions of their own, outside its process group.
        """
        record = self._running_record(name)
        started = _descendants(record["pid"])
        _signal_group(record["pid"], signal.SIGKILL)
        for pid in started:
            _signal(pid, signal.SIGKILL)
        self._wait_exit(name, record, timeout, "SIGKILL")

    def _running_record(self, name: str) -> dict[str, Any]:
        record = _read_json(self._pid_file(name))
        if not record or not _is_same_process(record["pid"], record.get("start_time")):
            raise StackError(f"airflow {name} is not running")
        return record

    def _wait_exit(self, name: str, record: dict[str, Any], timeout: float, sent: str) -> None:
        deadline = time.monotonic() + timeout
        while _is_same_process(record["pid"], record.get("start_time")):
            if time.monotonic() > deadline:
                raise StackError(f"airflow {name} did not exit {timeout:.0f} s after {sent}:\n{self.log_tail(name)}")
            time.sleep(0.2)

    def start_component(self, name: str, timeout: float = 180) -> None:
        """Start one stopped component again; wait until it serves (a worker: Celery says it is ready)."""
        log = os.path.join(self.run_dir, f"{name}.log")
        written = os.path.getsize(log) if os.path.exists(log) else 0
        self._spawn(name, self.components()[name])
        if name in COMPONENTS:
            self.wait_healthy(timeout)
        else:
            self._wait_worker_ready(name, log, written, timeout)

    def _wait_worker_ready(self, name: str, log: str, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(log, "rb") as handle:
                handle.seek(offset)
                if b" ready." in handle.read():
                    return
            if name not in self.processes():
                raise StackError(f"airflow {name} exited during start-up:\n{self.log_tail(name)}")
            time.sleep(0.5)
        raise StackError(f"airflow {name} not ready after {timeout:.0f} s:\n{self.log_tail(name)}")

    def restart(self, name: str, timeout: float = 180) -> None:
        self.stop_component(name, timeout)
        self.start_component(name, timeout)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = os.path.join(self.run_dir, f"{name}.log")
        if not os.path.exists(path):
            return f"(no log at {path})"
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])

    def stop(self, timeout: float = 20) -> list[int]:
        """Stop the processes of this stack's PID files, their process groups and descendants.

        Returns the PIDs that were signalled. Processes whose PID was reused by something else (start
        time differs from the PID file's) are left alone.
        """
        return stop_home(self.home, timeout)

    # -- talking to it --------------------------------------------------------------------------------
    def token(self, username: str, password: str | None = None) -> str:
        """A JWT from ``POST /auth/token`` for a user (password from this stack's users if omitted)."""
        password = self.passwords[username] if password is None else password
        status, body = self.request("POST", "/auth/token", {"username": username, "password": password})
        if status != 201:
            raise StackError(f"POST /auth/token for {username!r} returned {status}: {body}")
        return body["access_token"]

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None, timeout: float = 30
    ) -> tuple[int, Any]:
        """One HTTP request to the api-server: (status, decoded JSON body or text). Never raises on 4xx/5xx."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        """Like ``request``, for calls that must succeed: the JSON body, or StackError naming the call."""
        status, answer = self.request(method, path, body, token)
        if status >= 300:
            raise StackError(f"{method} {path} returned {status}: {answer}")
        return answer

    def wait_for_dag(self, dag_id: str, token: str, parsed_since: str | None = None, timeout: float = 60) -> dict:
        """Wait until a DAG is serialized and visible over REST (parsed at or after ``parsed_since``, ISO)."""
        deadline = time.monotonic() + timeout
        while True:
            status, dag = self.request("GET", f"/api/v2/dags/{quote(dag_id)}", token=token)
            if status == 200 and (parsed_since is None or _iso(dag.get("last_parsed_time")) >= _iso(parsed_since)):
                return dag
            if time.monotonic() > deadline:
                raise StackError(f"DAG {dag_id} not visible over REST after {timeout:.0f} s; see /api/v2/importErrors")
            time.sleep(0.25)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None, token: str) -> dict[str, Any]:
        """``POST /api/v2/dags/{dag_id}/dagRuns`` (``logical_date`` null: a manual run now); the new run."""
        body = {"logical_date": None, "conf": conf or {}}
        return self.api("POST", f"/api/v2/dags/{quote(dag_id)}/dagRuns", body, token)

    def task_states(self, dag_id: str, run_id: str, token: str) -> dict[str, str | None]:
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances?order_by=start_date"
        answer = self.api("GET", path, token=token)
        return {ti["task_id"]: ti["state"] for ti in answer["task_instances"]}

    def wait_for_run(
        self, dag_id: str, run_id: str, token: str, timeout: float = 300, poll: float = 0.25
    ) -> dict[str, Any]:
        """Poll a run until it is success or failed; return its JSON."""
        deadline = time.monotonic() + timeout
        while True:
            run = self.api("GET", f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}", token=token)
            if run["state"] in TERMINAL_RUN_STATES:
                return run
            if time.monotonic() > deadline:
                states = self.task_states(dag_id, run_id, token)
                raise StackError(f"run {run_id} of {dag_id} still {run['state']} after {timeout:.0f} s: {states}")
            time.sleep(poll)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str, token: str) -> Any:
        """The XCom value as stored (for a step output: its DataLocation dict)."""
        path = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}/xcomEntries"
        return self.api("GET", f"{path}/{quote(key)}", token=token)["value"]

    def local_output(self, location: dict[str, Any]) -> str:
        """Local folder of an output on a datastore without a connection (``<root>/<datastore>/<path>``)."""
        return os.path.join(self.datastore_root, location["datastore"], location["path"])


def stop_home(home: str, timeout: float = 20) -> list[int]:
    """Stop what a stack in ``home`` started, from its PID files alone (no configuration needed)."""
    run_dir = os.path.join(os.path.abspath(home), "run")
    pid_files = sorted(glob.glob(os.path.join(run_dir, "*.pid")))  # components and workers alike
    targets: list[tuple[int, int | None]] = []
    for path in pid_files:
        record = _read_json(path)
        if record and _is_same_process(record["pid"], record.get("start_time")):
            targets.append((record["pid"], record.get("start_time")))
    # Descendants first collected, then signalled: step scripts run in sessions of their own and would
    # outlive the component's process group.
    pids = {pid for pid, _ in targets}
    for pid, _ in targets:
        pids.update(_descendants(pid))
    started = {pid: _start_time(pid) for pid in pids}
    for pid, _ in targets:
        _signal_group(pid, signal.SIGTERM)
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_is_same_process(p, t) for p, t in started.items()):
        time.sleep(0.2)
    for pid, start in started.items():
        if _is_same_process(pid, start):
            _signal(pid, signal.SIGKILL)
    for pid, _ in targets:
        _signal_group(pid, signal.SIGKILL)
    for path in pid_files:
        if os.path.exists(path):
            os.unlink(path)
    return sorted(pids)


def celery_config(database: str, broker: str, dags_prefix: str, datastore: str = "workspaceblobstore") -> dict:
    """``config`` of a CeleryExecutor stack whose machines share no disk, as ``docker/`` deploys one.

    ``database`` is a PostgreSQL URL without its scheme (``user:password@host:port/db``), ``broker`` a
    Redis URL. DAG files come from ``dags_prefix`` of ``datastore`` (``amlflow dags push``) and pipelines
    from notebooks from its ``amlflow-pipelines`` bundle: both ``DatastoreDagBundle``.
    """
    bundle = "amlflow.bundles.datastore_bundle.DatastoreDagBundle"
    bundles = [
        {
            "name": "pipelines-from-files",
            "classpath": bundle,
            "kwargs": {"datastore": datastore, "prefix": dags_prefix},
        },
        {"name": PIPELINE_BUNDLE, "classpath": bundle, "kwargs": {"datastore": datastore}},
    ]
    return {
        "database": {"sql_alchemy_conn": f"postgresql+psycopg2://{database}"},
        "celery": {"broker_url": broker, "result_backend": f"db+postgresql://{database}"},
        "operators": {"default_queue": "default"},
        "dag_processor": {"dag_bundle_config_list": json.dumps(bundles)},
    }


def worker_hostname() -> str:
    """``[core] hostname_callable`` of a stack's Celery workers: the worker's name (they share a machine)."""
    return os.environ.get("AMLFLOW_WORKER_NAME") or socket.getfqdn()


def write_pid_file(run_dir: str, name: str, pid: int, argv: list[str]) -> None:
    """Record a started component; its start time lets ``stop_home`` tell it from a later process with its PID."""
    record = {"pid": pid, "start_time": _start_time(pid), "argv": argv}
    _write_private(os.path.join(run_dir, f"{name}.pid"), json.dumps(record))


# -- small helpers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _iso(stamp: str | None) -> datetime:
    """An ISO timestamp from the REST API (always UTC-aware); a missing one sorts first."""
    return datetime.fromisoformat(stamp) if stamp else datetime.min.replace(tzinfo=UTC)


def _start_time(pid: int) -> int | None:
    """Start time of a process (clock ticks since boot), which tells a live PID from a reused one."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after its last ")" are fixed.
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def _is_same_process(pid: int, start_time: int | None) -> bool:
    now = _start_time(pid)
    if now is None:
        return False
    try:
        with open(f"/proc/{pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":  # a zombie has exited already
                return False
    except OSError:
        return False
    return start_time is None or now == start_time


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _read_json(path: str) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _read_ini(path: str) -> dict[str, dict[str, str]]:
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path)
    return {section: dict(parser[section]) for section in parser.sections()}


def _write_private(path: str, text: str) -> None:
    """Write a file readable by its owner only (it may hold passwords or secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
