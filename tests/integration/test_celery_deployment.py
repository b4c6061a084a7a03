"""Many machines, for real: the CeleryExecutor on PostgreSQL and Redis, two workers that share no disk.

One deployment for the module, of real parts on 127.0.0.1: PostgreSQL (the metadata database) and Redis
(the broker) from Debian's packages, Airflow's api-server, scheduler, dag-processor and triggerer, and two
Celery workers, each with its own AIRFLOW_HOME, working directory and temp folder, each serving the queue
of one compute target. The default datastore is a container on Azurite, and the DAG files reach the
dag-processor and the workers through a DAG bundle kept in it (``DatastoreDagBundle``): no folder is shared.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
import tempfile
import textwrap
import time

import pytest
import requests

from amlflow.storage.location import output_path
from scripts.stack import Stack, celery_config
from tests.fixtures.airflow_stack import PASSWORDS, USERS, AirflowStack, wait_until
from tests.integration.test_notebook_submit import notebook_outcome, start_notebook_text

pytestmark = pytest.mark.integration

CONTAINER = "celery-blobstore"
DAGS_PREFIX = "amlflow-dags"
#: Each worker serves its own compute target's queue; both serve "shared" (a retry may land on either).
WORKERS = {"worker-a": ["default", "cpu-a", "shared"], "worker-b": ["cpu-b", "shared"]}
DAG_IDS = ("celery_spread", "celery_unregistered_datastore", "celery_lost_worker", "celery_burst")

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

# A step long enough to lose its worker in the middle, on a queue both workers serve.
shared = ComputeTarget.create(ws, "shared", AmlCompute.provisioning_configuration(max_nodes=4))
halves = PipelineData("halves")
slow = PythonScriptStep("slow.py", name="slow", arguments=["--out", halves], outputs=[halves],
                        compute_target=shared, source_directory="spread_scripts")
Pipeline(ws, [slow]).as_dag("celery_lost_worker")

quick = PythonScriptStep("quick.py", name="quick", compute_target=shared, source_directory="spread_scripts",
                         allow_reuse=False)
Pipeline(ws, [quick]).publish(name="celery_burst")
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

SLOW_PY = """\
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--out")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "first-half.txt"), "w") as handle:
    handle.write("first half")
print("first half written", flush=True)
time.sleep(6)
with open(os.path.join(args.out, "second-half.txt"), "w") as handle:
    handle.write("second half")
"""

NOTEBOOK = """
import json
from amlflow.core import Experiment, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.core.compute_target import ComputeTargetException
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
targets = {}
for name in ("cpu-a", "cpu-b"):
    try:
        targets[name] = ComputeTarget(workspace=ws, name=name)
    except ComputeTargetException:
        targets[name] = ComputeTarget.create(ws, name, AmlCompute.provisioning_configuration(max_nodes=2))
handed = PipelineData("handed", datastore=ws.get_default_datastore())
summary = PipelineData("summary", datastore=ws.get_default_datastore())
make = PythonScriptStep("make.py", name="make", arguments=["--out", handed], outputs=[handed],
                        compute_target=targets["cpu-a"], source_directory="scripts", allow_reuse=False)
read = PythonScriptStep("read.py", name="read", arguments=["--in", handed, "--out", summary], inputs=[handed],
                        outputs=[summary], compute_target=targets["cpu-b"], source_directory="scripts",
                        allow_reuse=False)
run = Experiment(ws, "celery_notebook").submit(Pipeline(ws, [read]))
run.wait_for_completion(show_output=False)
print("RESULT " + json.dumps({"run": run.id, "pipeline": run.pipeline_id, "status": run.get_status()}))
"""


def write_dag_folder(folder: str) -> None:
    os.makedirs(os.path.join(folder, "spread_scripts"))
    files = {
        "celery_spread.py": textwrap.dedent(SPREAD_DAG),
        ".airflowignore": "spread_scripts/\n",
        "spread_scripts/make.py": MAKE_PY,
        "spread_scripts/read.py": READ_PY,
        "spread_scripts/slow.py": SLOW_PY,
        "spread_scripts/quick.py": "print('quick')\n",
    }
    for name, body in files.items():
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(body)


@pytest.fixture(scope="module")
def celery_stack(azurite, postgres, redis):
    azurite.container(CONTAINER)  # creates the default datastore's container
    sources = tempfile.mkdtemp(prefix="amlflow-celery-dags-")
    write_dag_folder(sources)
    postgres.execute("CREATE DATABASE airflow_celery")
    database = f"{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}/airflow_celery"
    config = celery_config(database, redis.url, DAGS_PREFIX)
    config["scheduler"] = {
        # A lost worker's task is failed (and retried elsewhere) 10 s after its last heartbeat, not 300 s.
        "task_instance_heartbeat_timeout": "10",
        "task_instance_heartbeat_timeout_detection_interval": "2",
    }
    home = tempfile.mkdtemp(prefix="amlflow-celery-stack-")
    connection = {"AIRFLOW_CONN_WORKSPACEBLOBSTORE": azurite.connection_json(CONTAINER)}
    stack = Stack.prepare(
        home, users=USERS, passwords=PASSWORDS, extra_env=connection, config=config, workers=WORKERS, parallelism=4
    )
    # As a team deploys DAG code: pushed into the datastore the bundle reads (docker/README.md).
    stack.run_cli("dags", "push", sources, "--prefix", DAGS_PREFIX, tool="amlflow")
    stack.start()
    try:
        stack.run_cli("pools", "sync", "--dags-folder", sources, tool="amlflow")
        wrapped = AirflowStack(stack)
        for dag_id in DAG_IDS:
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


def test_a_pipeline_submitted_from_a_notebook_runs_its_steps_on_both_workers(celery_stack, tmp_path):
    stack = celery_stack
    files = {"scripts/make.py": MAKE_PY, "scripts/read.py": READ_PY}
    result = notebook_outcome(start_notebook_text(stack, tmp_path, NOTEBOOK, files), timeout=400)
    assert result["status"] == "Finished", result
    make, read = (task_instance(stack, result["pipeline"], result["run"], task) for task in ("make", "read"))
    assert (make["hostname"], read["hostname"]) == ("worker-a", "worker-b")


def blob_names(azurite, prefix: str = "") -> list[str]:
    return sorted(blob.name for blob in azurite.container(CONTAINER).list_blobs(name_starts_with=prefix))


def worker_log(stack: AirflowStack, worker: str, dag_id: str, run_id: str) -> str:
    """What the tasks of one run logged on ``worker`` (task logs stay on the worker: no log server here)."""
    text = ""
    for root, _dirs, names in os.walk(os.path.join(stack.stack.worker_home(worker), "logs")):
        for name in names if f"dag_id={dag_id}" in root and f"run_id={run_id}" in root else []:
            with open(os.path.join(root, name), errors="replace") as handle:
                text += handle.read()
    return text


def test_a_worker_killed_mid_step_is_replaced_by_the_other_and_the_output_is_committed_once(celery_stack, azurite):
    stack, dag_id = celery_stack, "celery_lost_worker"
    run_id = stack.trigger(dag_id)
    wait_until(lambda: task_instance(stack, dag_id, run_id, "slow")["state"] == "running", 120, "slow running")
    lost = task_instance(stack, dag_id, run_id, "slow")["hostname"]
    survivor = {"worker-a": "worker-b", "worker-b": "worker-a"}[lost]
    wait_until(lambda: "first half written" in worker_log(stack, lost, dag_id, run_id), 60, "first half written")
    before = blob_names(azurite)
    stack.stack.kill_component(f"worker-{lost}")
    # The lost try's files never reach the step's output folder: it holds nothing until a try commits.
    assert blob_names(azurite, output_path(dag_id, run_id, "slow", "halves")) == []
    try:
        run = stack.wait_for_run(dag_id, run_id, timeout=240)
    finally:
        stack.stack.start_component(f"worker-{lost}")
    assert run["state"] == "success", stack.task_states(dag_id, run_id)
    ti = task_instance(stack, dag_id, run_id, "slow")
    assert (ti["try_number"], ti["hostname"]) == (2, survivor)
    assert f"try 1 did not finish on {lost}" in worker_log(stack, survivor, dag_id, run_id)
    location = stack.xcom(dag_id, run_id, "slow", "halves")
    # Exactly one committed copy, whole: the killed try left nothing in the container.
    new = [name for name in blob_names(azurite) if name not in before]
    written = [name for name in new if name.endswith("-half.txt")]
    assert written == [f"{location['path']}/first-half.txt", f"{location['path']}/second-half.txt"]
    # Unchanged, the next run reuses that output instead of running the step again.
    again = stack.run(dag_id, timeout=240)
    assert again["state"] == "success"
    assert stack.xcom(dag_id, again["dag_run_id"], "slow", "halves") == location
    reuse = stack.xcom(dag_id, again["dag_run_id"], "slow", "amlflow_reuse")
    reuse = json.loads(reuse) if isinstance(reuse, str) else reuse
    assert (reuse["reused"], reuse["reused_run_id"]) == (True, run_id)


def test_fifty_submissions_at_once_are_all_accepted_and_all_runs_finish(celery_stack, capsys):
    stack, headers = celery_stack, celery_stack.admin_headers()
    status, published = stack.request("GET", "/amlflow/pipelines/v1.0/PublishedPipelines")
    assert status == 200, published
    endpoint = next(p["Url"] for p in published if p["Name"] == "celery_burst")

    def submit(n: int) -> tuple[int, dict, float]:
        started = time.perf_counter()
        answer = requests.post(endpoint, json={"ExperimentName": f"burst-{n}"}, headers=headers, timeout=120)
        return answer.status_code, answer.json(), time.perf_counter() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(submit, range(50)))
    assert [code for code, _, _ in answers] == [200] * 50, [body for code, body, _ in answers if code != 200][:3]
    latencies = sorted(seconds for _, _, seconds in answers)
    with capsys.disabled():
        print(f"\n50 submissions at once: p50 {latencies[24]:.2f} s, p99 {latencies[-1]:.2f} s (of {latencies[0]:.2f}"
              f"-{latencies[-1]:.2f} s)")  # fmt: skip
    dag_id = answers[0][1]["PipelineId"]
    states = {stack.wait_for_run(dag_id, body["Id"], timeout=600)["state"] for _, body, _ in answers}
    assert states == {"success"}
