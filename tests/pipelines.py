"""Running pipelines through Airflow in tests: load a DAG from its file and run it with ``dag.test``."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from amlflow.storage import get_backend
from amlflow.storage.location import DataLocation


def passing_to_scripts(*names: str) -> dict[str, str]:
    """The setting that lets step scripts see these worker variables (tests hand scripts state that way)."""
    from amlflow.config import DEFAULTS

    default = DEFAULTS["script_environment_passthrough"]
    return {"AIRFLOW__AMLFLOW__SCRIPT_ENVIRONMENT_PASSTHROUGH": ",".join([default, *names])}


def write_dag_file(name: str, text: str, scripts: dict[str, str] | None = None, folder: str | None = None) -> str:
    """Write DAG file ``name`` into the session's dags folder, and ``scripts`` (name -> source, dedented)
    into its subfolder ``folder``, which Airflow's discovery is told to skip. Returns the DAG file's path."""
    import textwrap

    from tests.conftest import DAGS

    if scripts:
        os.makedirs(os.path.join(DAGS, folder), exist_ok=True)
        for script, body in scripts.items():
            with open(os.path.join(DAGS, folder, script), "w") as handle:
                handle.write(textwrap.dedent(body))
        with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
            handle.write(f"{folder}/\n")
    path = os.path.join(DAGS, name)
    with open(path, "w") as handle:
        handle.write(textwrap.dedent(text))
    return path


def load_dag(dag_file: str, dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dag_file, safe_mode=True)
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


def run_dag(dag_file: str, dag_id: str, conf: dict[str, Any] | None = None):
    """Run the DAG once with ``dag.test`` (real task runner, our XCom backend); return the DagRun."""
    dag = load_dag(dag_file, dag_id)
    return dag.test(run_conf=conf or {})


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def output_location(dag_run, task_id: str, key: str) -> DataLocation | None:
    """The committed output a task pushed, read back from the metadata database."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        if row is None:
            return None
        value = row.value if not isinstance(row.value, str) else json.loads(row.value)
    return DataLocation.from_xcom(value) if DataLocation.is_xcom(value) else None


def raw_xcom(dag_run, task_id: str, key: str) -> str | None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
            .one_or_none()
        )
        return None if row is None else (row.value if isinstance(row.value, str) else json.dumps(row.value))


def local_output(location: DataLocation) -> str:
    path = get_backend(location.datastore).local_path(location.path)
    assert path is not None and os.path.isdir(path)
    return path


@contextmanager
def captured_output() -> Iterator[list[str]]:
    """Everything logged or printed meanwhile: ``dag.test`` runs tasks in this process, so these are the task logs.

    Yields a list that holds the text once the block ends. Log records are caught at the root logger, and
    ``sys.stdout``/``sys.stderr`` are teed (structlog prints there), so pytest still shows it all.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(streams[0], buffer), _Tee(streams[1], buffer)
    result: list[str] = []
    try:
        yield result
    finally:
        sys.stdout, sys.stderr = streams
        root.removeHandler(handler)
        result.append(buffer.getvalue())


class _Tee(io.TextIOBase):
    def __init__(self, *targets: Any) -> None:
        self._targets = targets

    def write(self, text: str) -> int:
        for target in self._targets:
            target.write(text)
        return len(text)

    def flush(self) -> None:
        for target in self._targets:
            target.flush()


_OFFLINE_PARSE = """
import json, socket, sys
import sqlalchemy.engine
touched = []
def refuse(what):
    def call(*args, **kwargs):
        touched.append(what)
        raise AssertionError(what + " while parsing")
    return call
socket.socket.connect = refuse("network")
socket.create_connection = refuse("network")
sqlalchemy.engine.Engine.connect = refuse("database")
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=True)
assert not touched, touched
assert not bag.import_errors, bag.import_errors
print(json.dumps({dag_id: sorted(dag.task_ids) for dag_id, dag in bag.dags.items()}))
"""


def parse_offline(dag_file: str) -> dict[str, list[str]]:
    """Parse ``dag_file`` in a fresh process where every socket and database connection is refused.

    Returns each DAG's sorted task ids; fails if parsing tried the network or the metadata database (the
    database URL also points nowhere) or the file has an import error.
    """
    import subprocess
    import sys

    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////nonexistent-folder/airflow.db"}
    result = subprocess.run([sys.executable, "-c", _OFFLINE_PARSE, dag_file], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
