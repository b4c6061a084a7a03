"""Scale-out: RUNS runs of a 4-step pipeline (1 s of CPU per step) on one Celery worker against two.

One CeleryExecutor deployment of real parts on 127.0.0.1, as ``tests/integration/test_celery_deployment.py``
starts it (``scripts.stack.celery_config``): PostgreSQL and Redis from Debian's packages and Azurite, the
tests' launchers; the default datastore a blob container; the DAG file pushed into it (``amlflow dags
push``) and read through a DAG bundle. Two workers serve the steps' queue, each with ``--concurrency 2``.
The pipeline chains four PythonScriptSteps through PipelineData (``allow_reuse=False``), each burning
CPU_SECONDS of CPU. RUNS runs are triggered at once, first with worker-b stopped (one worker), then with
both; next to them the embedded default (SQLite, LocalExecutor with parallelism 4, a local datastore)
runs the same RUNS. Printed: wall time from the first trigger to the last run's end, tasks per minute,
the ratio against the first row, and how many triggers the api-server refused (a 5xx; sent again).

    .venv/bin/python benchmarks/scale_out.py [--runs 40] [--cpu-seconds 1]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "scale_out")
sys.path.insert(0, ROOT)

from scripts.stack import Stack, celery_config  # noqa: E402 - the repository root is put on the path first
from tests.fixtures.azurite import Azurite  # noqa: E402  (the tests' launchers, reused)
from tests.fixtures.postgres import running_postgres  # noqa: E402
from tests.fixtures.redis import running_redis  # noqa: E402

DAG_ID = "scale_out"
STEPS = 4
CONTAINER = "scale-out-blobstore"
DAGS_PREFIX = "amlflow-dags"

DAG = """
from amlflow.core import Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
cpu = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=8))
steps, previous = [], None
for n in range({steps}):
    out = PipelineData(f"out{{n}}")
    arguments = ["--seconds", {seconds}, "--out", out] + (["--in", previous] if previous else [])
    steps.append(PythonScriptStep("burn.py", name=f"step{{n}}", arguments=arguments, outputs=[out],
                                  inputs=[previous] if previous else [], compute_target=cpu,
                                  source_directory="scale_scripts", allow_reuse=False))
    previous = out
Pipeline(ws, steps).as_dag("{dag_id}")
"""

BURN = """\
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--seconds", type=float)
parser.add_argument("--in", dest="source")
parser.add_argument("--out")
args = parser.parse_args()
while time.process_time() < args.seconds:
    sum(range(10_000))
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "done.txt"), "w") as handle:
    handle.write("done")
"""


def write_dag_folder(folder: str, cpu_seconds: float) -> None:
    os.makedirs(os.path.join(folder, "scale_scripts"), exist_ok=True)
    files = {
        "scale_out.py": DAG.format(steps=STEPS, seconds=cpu_seconds, dag_id=DAG_ID),
        ".airflowignore": "scale_scripts/\n",
        "scale_scripts/burn.py": BURN,
    }
    for name, body in files.items():
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(body)


def ready(stack: Stack, dags_folder: str) -> str:
    """Start ``stack``, create the pools, unpause the DAG; an admin token."""
    stack.start()
    stack.run_cli("pools", "sync", "--dags-folder", dags_folder, tool="amlflow")
    token = stack.token("admin")
    stack.wait_for_dag(DAG_ID, token, timeout=180)
    stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False}, token)
    return token


def burst(stack: Stack, token: str, runs: int) -> tuple[float, int]:
    """Wall time from the first of ``runs`` triggers sent at once to the end of the last run, and how many
    triggers the api-server refused with a 5xx (each sent again after 1 s, as a client would)."""
    started, refused, run_ids = time.perf_counter(), 0, []
    path = f"/api/v2/dags/{DAG_ID}/dagRuns"
    while len(run_ids) < runs:
        status, answer = stack.request("POST", path, {"logical_date": None, "conf": {}}, token)
        if status >= 500:
            refused += 1
            time.sleep(1)
            continue
        if status != 200:
            raise SystemExit(f"POST {path} returned {status}: {answer}")
        run_ids.append(answer["dag_run_id"])
    for run_id in run_ids:
        run = stack.wait_for_run(DAG_ID, run_id, token, timeout=3600, poll=1)
        if run["state"] != "success":
            raise SystemExit(f"run {run_id} {run['state']}: {stack.task_states(DAG_ID, run_id, token)}")
    return time.perf_counter() - started, refused


def measure_celery(runs: int, cpu_seconds: float) -> dict[str, tuple[float, int]]:
    sources = os.path.join(WORK, "dags")
    write_dag_folder(sources, cpu_seconds)
    azurite = Azurite(tempfile.mkdtemp(prefix="azurite-", dir=WORK))
    azurite.start()
    try:
        azurite.container(CONTAINER)
        with running_postgres() as postgres, running_redis() as redis:
            postgres.execute("CREATE DATABASE airflow_scale")
            database = f"{postgres.user}:{postgres.password}@{postgres.host}:{postgres.port}/airflow_scale"
            stack = Stack.prepare(
                os.path.join(WORK, "celery-home"),
                config=celery_config(database, redis.url, DAGS_PREFIX),
                extra_env={"AIRFLOW_CONN_WORKSPACEBLOBSTORE": azurite.connection_json(CONTAINER)},
                workers={"worker-a": ["default", "cpu"], "worker-b": ["default", "cpu"]},
                parallelism=8,
            )
            stack.run_cli("dags", "push", sources, "--prefix", DAGS_PREFIX, tool="amlflow")
            try:
                token = ready(stack, sources)
                burst(stack, token, 2)  # warm-up: both workers' first task start-up, bundle copies
                stack.stop_component("worker-worker-b")
                one = burst(stack, token, runs)
                print(f"1 worker: {one[0]:.1f} s", file=sys.stderr)
                stack.start_component("worker-worker-b")
                two = burst(stack, token, runs)
                print(f"2 workers: {two[0]:.1f} s", file=sys.stderr)
            finally:
                stack.stop()
    finally:
        azurite.stop()
    return {"1 Celery worker (PostgreSQL, Redis, Azurite)": one, "2 Celery workers (same deployment)": two}


def measure_embedded(runs: int, cpu_seconds: float) -> tuple[float, int]:
    stack = Stack.prepare(os.path.join(WORK, "embedded-home"), parallelism=4)
    write_dag_folder(stack.dags_folder, cpu_seconds)
    try:
        token = ready(stack, stack.dags_folder)
        burst(stack, token, 2)
        return burst(stack, token, runs)
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--cpu-seconds", type=float, default=1.0)
    parser.add_argument("--without-celery", action="store_true", help="measure the embedded default only")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    walls = {} if args.without_celery else measure_celery(args.runs, args.cpu_seconds)
    walls["embedded default (SQLite, LocalExecutor, parallelism 4)"] = measure_embedded(args.runs, args.cpu_seconds)
    tasks = args.runs * STEPS
    one = next(iter(walls.values()))[0]
    print(
        f"\n{args.runs} runs x {STEPS} steps of {args.cpu_seconds:g} s CPU, triggered at once; {os.cpu_count()} cores\n"
    )
    print("| deployment | wall (s) | tasks/min | first row / this | triggers refused (5xx, sent again) |")
    print("|---|---|---|---|---|")
    for label, (wall, refused) in walls.items():
        print(f"| {label} | {wall:.1f} | {tasks / wall * 60:.0f} | {one / wall:.2f}x | {refused} |")
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
