"""Trigger-to-success latency over REST: the example pipeline against the same steps as BashOperators.

One real deployment (``scripts/stack.py``: api-server, scheduler with LocalExecutor, dag-processor,
triggerer; SQLite) holds both DAGs: ``Compare_Models`` (``dags/compare_models.py``, amlflow's
PythonScriptStep) and ``Compare_Models_Bash`` (``trigger_latency/compare_models_bash.py``: the same three
scripts with the same arguments, hand-written). Each run is ``POST /api/v2/dags/{id}/dagRuns`` with
``conf={"pipeline_arg": 1, "regenerate_outputs": true}`` (no step reuse: every step really runs), then
polling the run every 0.1 s until it succeeds. Runs are sequential and interleaved, after one warm-up
run each. Printed: medians of the client's wall time (POST sent -> success seen) and of the server's
(run queued_at -> end_date), and the ratio amlflow / BashOperator.

    .venv/bin/python benchmarks/trigger_latency.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import datetime

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from scripts.stack import Stack  # noqa: E402 - the repository root is put on the path first

WORK = os.path.join(HERE, ".work", "trigger_latency")
OURS, ANCHOR = "Compare_Models", "Compare_Models_Bash"
STEP_OUTPUTS = (("train.py", "processed_data1"), ("extract.py", "processed_data2"), ("compare.py", "out_data3"))
CONF = {"pipeline_arg": 1, "regenerate_outputs": True}


def prepare() -> Stack:
    shutil.rmtree(WORK, ignore_errors=True)
    stack = Stack.prepare(os.path.join(WORK, "home"), users={"admin": "admin"})
    dags = stack.dags_folder
    shutil.copy(os.path.join(ROOT, "dags", "compare_models.py"), dags)
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(dags, "compare_models"))
    shutil.copy(os.path.join(HERE, "trigger_latency", "compare_models_bash.py"), dags)
    with open(os.path.join(dags, ".airflowignore"), "w") as handle:
        handle.write("compare_models/\n")
    return stack


def run_once(stack: Stack, token: str, dag_id: str) -> tuple[float, float]:
    began = time.monotonic()
    run = stack.trigger(dag_id, CONF, token)
    run = stack.wait_for_run(dag_id, run["dag_run_id"], token, poll=0.1)
    wall = time.monotonic() - began
    if run["state"] != "success":
        states = stack.task_states(dag_id, run["dag_run_id"], token)
        raise SystemExit(f"{dag_id} run {run['dag_run_id']} {run['state']}: {states}")
    check_really_ran(stack, token, dag_id, run["dag_run_id"])
    server = (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["queued_at"])).total_seconds()
    return wall, server


def check_really_ran(stack: Stack, token: str, dag_id: str, run_id: str) -> None:
    """Both DAGs must have run every script and written the report with the run's pipeline_arg."""
    if dag_id == OURS:
        from amlflow.storage.location import output_path

        for task_id, key in STEP_OUTPUTS:
            location = stack.xcom(dag_id, run_id, task_id, key, token)
            if location["path"] != output_path(dag_id, run_id, task_id, key):
                raise SystemExit(f"{task_id} of {run_id} was reused: the measurement would not run it")
        report = stack.local_output(location)
    else:
        report = os.path.join(stack.datastore_root, "workspaceblobstore", "bash", run_id, "out_data3")
    with open(os.path.join(report, "report.json")) as handle:
        if json.load(handle)["pipeline_arg"] != CONF["pipeline_arg"]:
            raise SystemExit(f"{dag_id} run {run_id} did not get pipeline_arg={CONF['pipeline_arg']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    stack = prepare()
    try:
        stack.start()
        upload = os.path.join(stack.dags_folder, "compare_models", "upload_data.py")
        subprocess.run([sys.executable, upload], env=stack.env, check=True, capture_output=True)
        token = stack.token("admin")
        for dag_id in (OURS, ANCHOR):
            stack.wait_for_dag(dag_id, token)
            run_once(stack, token, dag_id)  # warm-up: first task start-up, imports into the page cache
        results: dict[str, list[tuple[float, float]]] = {OURS: [], ANCHOR: []}
        for i in range(args.runs):
            for dag_id in (OURS, ANCHOR) if i % 2 == 0 else (ANCHOR, OURS):
                results[dag_id].append(run_once(stack, token, dag_id))
                print(f"run {i + 1}/{args.runs} {dag_id:<20} wall {results[dag_id][-1][0]:.2f} s", file=sys.stderr)
    finally:
        stack.stop()
    print(f"\n{args.runs} runs each, 3 steps, one deployment ({stack.parallelism} LocalExecutor workers, SQLite)\n")
    print("| metric (median) | amlflow PythonScriptStep | BashOperator | ratio |")
    print("|---|---|---|---|")
    for label, index in (("trigger -> success, client wall (s)", 0), ("queued -> end, server (s)", 1)):
        ours = statistics.median(r[index] for r in results[OURS])
        anchor = statistics.median(r[index] for r in results[ANCHOR])
        print(f"| {label} | {ours:.2f} | {anchor:.2f} | {ours / anchor:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
