"""Two runs of one pipeline reach the same fingerprints at the same time, sharing one datastore.

This is the deployment case: two Airflow installations (here two AIRFLOW_HOMEs, each with its own
metadata database) whose workers share the datastore that holds outputs and the reuse index. Each
run is an ``airflow dags test`` process. The first step waits at a barrier until the other run's copy
of it has started too, so both really execute it at once and both write the same index entry.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing

import pytest

from tests.pipelines import passing_to_scripts

DAG = """
from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
numbers, total = PipelineData("numbers"), PipelineData("total")
make = PythonScriptStep("make.py", arguments=[numbers], outputs=[numbers], source_directory="concurrent_scripts")
add = PythonScriptStep("add.py", arguments=[numbers, total], inputs=[numbers], outputs=[total],
                       source_directory="concurrent_scripts")
Pipeline(ws, [add]).publish(name="reuse_concurrent")
"""

SCRIPTS = {
    "make.py": """
        import os, sys, time
        barrier = os.environ["CONCURRENT_BARRIER"]
        open(os.path.join(barrier, str(os.getpid())), "w").close()
        deadline = time.monotonic() + 60
        while len(os.listdir(barrier)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.makedirs(sys.argv[1], exist_ok=True)
        for i in range(50):
            open(os.path.join(sys.argv[1], f"part-{i}.txt"), "w").write(str(i) * 1000)
    """,
    "add.py": """
        import os, sys
        total = sum(len(open(os.path.join(sys.argv[1], n)).read()) for n in os.listdir(sys.argv[1]))
        os.makedirs(sys.argv[2], exist_ok=True)
        open(os.path.join(sys.argv[2], "total.txt"), "w").write(str(total))
    """,
}


def airflow_env(home: str, datastore_root: str, barrier: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__DAGS_FOLDER": os.path.join(home, "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__XCOM_BACKEND": "amlflow.xcom.PipelineDataXComBackend",
            "AIRFLOW__CORE__MIGHT_CONTAIN_DAG_CALLABLE": "amlflow.discovery.might_contain_dag",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT": datastore_root,
            "CONCURRENT_BARRIER": barrier,
            **passing_to_scripts("CONCURRENT_BARRIER"),
        }
    )
    return env


def run_all(commands: list[tuple[list[str], dict[str, str]]]) -> list[subprocess.CompletedProcess]:
    """Start every command at once and wait for all of them."""
    started = [
        (subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), argv)
        for argv, env in commands
    ]
    results = []
    for process, argv in started:
        output, _ = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(argv, process.returncode, output))
    return results


def copy_database(source_home: str, home: str) -> None:
    """A migrated metadata database for ``home``: a consistent copy of the session's (faster than migrating)."""
    with (
        closing(sqlite3.connect(os.path.join(source_home, "airflow.db"))) as source,
        closing(sqlite3.connect(os.path.join(home, "airflow.db"))) as target,
    ):
        source.backup(target)


@pytest.fixture(scope="module")
def two_runs(airflow_db, tmp_path_factory):
    work = tmp_path_factory.mktemp("concurrent")
    datastore_root, barrier = str(work / "datastores"), str(work / "barrier")
    os.makedirs(barrier)
    airflow = os.path.join(os.path.dirname(sys.executable), "airflow")
    homes = [str(work / name) for name in ("home_a", "home_b")]
    for home in homes:
        os.makedirs(os.path.join(home, "dags", "concurrent_scripts"))
        with open(os.path.join(home, "dags", "concurrent_pipeline.py"), "w") as handle:
            handle.write(DAG)
        with open(os.path.join(home, "dags", ".airflowignore"), "w") as handle:
            handle.write("concurrent_scripts/\n")
        for name, body in SCRIPTS.items():
            with open(os.path.join(home, "dags", "concurrent_scripts", name), "w") as handle:
                handle.write(textwrap.dedent(body))
    for home in homes:
        copy_database(airflow_db, home)
    envs = [airflow_env(home, datastore_root, barrier) for home in homes]
    tests = [
        ([airflow, "dags", "test", "reuse_concurrent", f"2024-01-0{day}"], env)
        for day, env in zip((1, 2), envs, strict=True)
    ]
    results = run_all(tests)
    return homes, datastore_root, barrier, results


def task_states(home: str) -> dict[str, str]:
    with closing(sqlite3.connect(os.path.join(home, "airflow.db"))) as db:
        rows = db.execute("select task_id, state from task_instance where dag_id = 'reuse_concurrent'")
        return dict(rows.fetchall())


def test_both_runs_succeed_and_both_really_ran_the_step_at_once(two_runs):
    homes, _root, barrier, results = two_runs
    for home, result in zip(homes, results, strict=True):
        assert result.returncode == 0, result.stdout[-3000:]
        assert task_states(home) == {"make.py": "success", "add.py": "success"}
    assert len(os.listdir(barrier)) == 2  # each run's make.py started and waited for the other


def test_the_outputs_of_both_runs_agree_and_the_index_points_at_complete_ones(two_runs, monkeypatch):
    _homes, root, _barrier, _results = two_runs
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", root)
    from amlflow.runtime import reuse
    from amlflow.storage import get_backend
    from amlflow.storage.registry import forget_backends

    forget_backends()
    try:
        backend = get_backend("workspaceblobstore")
        manifests = [
            f.path for f in backend.list_files("amlflow/reuse_concurrent") if f.path.endswith(".manifest.json")
        ]
        runs = {path.split("/")[2] for path in manifests}
        assert len(runs) == 2
        fingerprints: dict[str, set[str]] = {}
        for path in manifests:
            output = path.removesuffix(".manifest.json").split("/")[-1]
            manifest = backend.read_manifest(path.removesuffix(".manifest.json"))
            fingerprints.setdefault(output, set()).add(manifest.fingerprint)
        assert {k: len(v) for k, v in fingerprints.items()} == {"numbers": 1, "total": 1}

        entries = [json.loads(backend.read_bytes(f.path)) for f in backend.list_files("amlflow-reuse")]
        assert sorted(e["task_id"] for e in entries) == ["add.py", "make.py"]
        for entry in entries:
            found = reuse.find_reusable(entry["fingerprint"], list(entry["outputs"]))
            assert found is not None
            assert {location.path.split("/")[2] for location in found.outputs.values()} <= runs
    finally:
        forget_backends()
