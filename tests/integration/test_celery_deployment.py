"""Many machines, for real: the CeleryExecutor on PostgreSQL and Redis, two workers that share no disk.

One deployment for the module, of real parts on 127.0.0.1: PostgreSQL (the metadata database) and Redis
(the broker) from Debian's packages, Airflow's api-server, scheduler, dag-processor and triggerer, and two
Celery workers, each with its own AIRFLOW_HOME, working directory and temp folder, each serving the queue
of one compute target. The default datastore is a container on Azurite, and the DAG files reach the
dag-processor and the workers through a DAG bundle kept in it (``DatastoreDagBundle``): no folder is shared.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import textwrap

import pytest

from scripts.stack import PIPELINE_BUNDLE, Stack
from tests.fixtures.airflow_stack import PASSWORDS, USERS, AirflowStack

pytestmark = pytest.mark.integration

CONTAINER = "celery-blobstore"
DAGS_PREFIX = "amlflow-dags"
DATASTORE_BUNDLE = "amlflow.bundles.datastore_bundle.DatastoreDagBundle"
WORKERS = {"worker-a": ["default", "cpu-a"], "worker-b": ["cpu-b"]}

SPREAD_DAG = """
from amlflow.core import Datastore, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
cpu_a = ComputeTarget.create(ws, "cpu-a", AmlCompute.provisioning_configuration(max_nodes=2))
cpu_b = ComputeTarget.create(ws, "cpu-b", AmlCompute.provisioning_configuration(max_nodes=2))
handed = PipelineData("handed")
summary = PipelineData("summary")
make = PythonScriptStep("make.py", name="make", arguments=["--out", handed], outputs=[handed],
                        compute_target=cpu_a, source_directory="spread_scripts", allow_reuse=False)
read = PythonScriptStep("read.py", name="read", arguments=["--in", handed, "--out", summary], inputs=[handed],
                        outputs=[summary], compute_target=cpu_b, source_directory="spread_scripts", allow_reuse=False)
Pipeline(ws, [read]).as_dag("celery_spread")

# Azure ML's file share, which has no connection here: on one machine it would be a local folder.
lost = PipelineData("lost", datastore=Datastore(ws, "workspacefilestore"))
stray = PythonScriptStep("make.py", name="stray", arguments=["--out", lost], outputs=[lost],
                         compute_target=cpu_a, source_directory="spread_scripts", allow_reuse=False)
Pipeline(ws, [stray]).as_dag("celery_unregistered_datastore")
"""

MAKE_PY = """\
import argparse, os
parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "handed.txt"), "w") as handle:
    handle.write("made in " + os.getcwd())
"""

READ_PY = """\
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--in", dest="source")
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.source, "handed.txt")) as handle:
    made = handle.read()
with open(os.path.join(args.out, "summary.json"), "w") as handle:
    json.dump({"made": made, "read_in": os.getcwd()}, handle)
"""


def write_dag_folder(folder: str) -> None:
    os.makedirs(os.path.join(folder, "spread_scripts"))
    files = {
        "celery_spread.py": textwrap.dedent(SPREAD_DAG),
        ".airflowignore": "spread_scripts/\n",
        "spread_scripts/make.py": MAKE_PY,
        "spread_scripts/read.py": READ_PY,
    }
    for name, body in files.items():
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(body)


@pytest.fixture(scope="module")
def celery_stack(azurite, postgres, redis):
    container = azurite.container(CONTAINER)
    sources = tempfile.mkdtemp(prefix="amlflow-celery-dags-")
    write_dag_folder(sources)
    for root, _dirs, names in os.walk(sources):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                container.upload_blob(f"{DAGS_PREFIX}/{os.path.relpath(path, sources)}", handle, overwrite=True)
    postgres.execute("CREATE DATABASE airflow_celery")
    database = f"{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}/airflow_celery"
    bundles = [
        {"name": "pipelines-from-files", "classpath": DATASTORE_BUNDLE,
         "kwargs": {"datastore": "workspaceblobstore", "prefix": DAGS_PREFIX}},
        {"name": PIPELINE_BUNDLE, "classpath": DATASTORE_BUNDLE, "kwargs": {"datastore": "workspaceblobstore"}},
    ]  # fmt: skip
    config = {
        "database": {"sql_alchemy_conn": f"postgresql+psycopg2://{database}"},
        "celery": {"broker_url": redis.url, "result_backend": f"db+postgresql://{database}"},
        "operators": {"default_queue": "default"},
        "dag_processor": {"dag_bundle_config_list": json.dumps(bundles)},
    }
    home = tempfile.mkdtemp(prefix="amlflow-celery-stack-")
    connection = {"AIRFLOW_CONN_WORKSPACEBLOBSTORE": azurite.connection_json(CONTAINER)}
    stack = Stack.prepare(
        home, users=USERS, passwords=PASSWORDS, extra_env=connection, config=config, workers=WORKERS, parallelism=4
    )
    stack.start()
    try:
        stack.run_cli("pools", "sync", "--dags-folder", sources, tool="amlflow")
        wrapped = AirflowStack(stack)
        for dag_id in ("celery_spread", "celery_unregistered_datastore"):
            stack.wait_for_dag(dag_id, wrapped._token("admin"), timeout=120)
            status, answer = wrapped.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
            assert status == 200, answer
        yield wrapped
    finally:
        stack.stop(timeout=5)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(sources, ignore_errors=True)


def task_instance(stack: AirflowStack, dag_id: str, run_id: str, task_id: str) -> dict:
    status, ti = stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
    assert status == 200, ti
    return ti


def test_steps_on_two_workers_hand_pipeline_data_over_the_datastore(celery_stack, azurite):
    stack = celery_stack
    run_id = stack.trigger("celery_spread")
    run = stack.wait_for_run("celery_spread", run_id, timeout=240)
    assert run["state"] == "success", stack.task_states("celery_spread", run_id)
    make, read = (task_instance(stack, "celery_spread", run_id, task) for task in ("make", "read"))
    assert (make["queue"], make["hostname"]) == ("cpu-a", "worker-a")
    assert (read["queue"], read["hostname"]) == ("cpu-b", "worker-b")
    location = stack.xcom("celery_spread", run_id, "read", "summary")
    assert location["uri"].startswith(f"wasbs://{CONTAINER}@")
    summary = json.loads(azurite.container(CONTAINER).download_blob(f"{location['path']}/summary.json").readall())
    homes = {name: stack.stack.worker_home(name) for name in ("worker-a", "worker-b")}
    # Each step ran in its own worker's folders; the data crossed through the blob container alone.
    assert summary["made"].startswith("made in " + os.path.join(homes["worker-a"], "tmp"))
    assert summary["read_in"].startswith(os.path.join(homes["worker-b"], "tmp"))


def test_a_datastore_without_a_connection_fails_the_step_naming_the_setting(celery_stack):
    stack = celery_stack
    run_id = stack.trigger("celery_unregistered_datastore")
    run = stack.wait_for_run("celery_unregistered_datastore", run_id, timeout=240)
    assert run["state"] == "failed"
    ti = task_instance(stack, "celery_unregistered_datastore", run_id, "stray")
    assert ti["state"] == "failed" and ti["try_number"] == 1  # no retry can help: failed for good
    # Task logs stay on the worker that ran the task (no log server here): read worker-a's.
    logs = os.path.join(stack.stack.worker_home("worker-a"), "logs")
    text = ""
    for root, _dirs, names in os.walk(logs):
        for name in names if "celery_unregistered_datastore" in root else []:
            with open(os.path.join(root, name), errors="replace") as handle:
                text += handle.read()
    assert "datastore 'workspacefilestore' has no Airflow connection" in text
    assert "[amlflow] local_datastore_fallback is off" in text and "'CeleryExecutor'" in text
