"""``make demo``: start Airflow from ``.demo/``, run the example pipeline over REST, show what happens.

Airflow (api-server, scheduler, dag-processor, triggerer) runs on 127.0.0.1, port ``AMLFLOW_DEMO_PORT``
(default 8080), with AIRFLOW_HOME ``.demo/`` and the repository's ``dags/`` as its DAG folder. A demo
already running on that port is reused; one on another port is restarted. Airflow keeps running
afterwards (``make stop`` stops it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from urllib.parse import quote

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from scripts.stack import Stack, StackError  # noqa: E402 - the repository root is put on the path first

HOME = os.path.join(ROOT, ".demo")
DAG_ID = "Compare_Models"
REPORT = ("compare.py", "out_data3", "report.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline-arg", type=int, default=1, help="value of pipeline_arg (the pipeline's default: 10)"
    )
    args = parser.parse_args()
    port = int(os.environ.get("AMLFLOW_DEMO_PORT", "8080"))
    try:
        stack = start(port)
        return run_example(stack, args.pipeline_arg)
    except StackError as error:
        print(f"\ndemo failed: {error}", file=sys.stderr)
        return 1


def start(port: int) -> Stack:
    previous = Stack.load(HOME)
    if previous is not None and previous.running():
        if previous.port == port and previous.healthy():
            print(f"Airflow from the previous `make demo` is running at {previous.url}: reusing it.")
            return previous
        why = "is not healthy" if previous.port == port else f"runs on port {previous.port}, not {port}"
        print(f"The previous demo's Airflow {why}: restarting it.")
        previous.stop()
    stack = Stack.prepare(HOME, port, dags_folder=os.path.join(ROOT, "dags"), users={"admin": "admin"})
    print(f"Starting Airflow 3 (api-server, scheduler, dag-processor, triggerer) on {stack.url}, home {HOME} ...")
    began = time.monotonic()
    stack.start()
    print(f"Airflow is healthy after {time.monotonic() - began:.0f} s; component logs in {stack.run_dir}.")
    return stack


def run_example(stack: Stack, pipeline_arg: int) -> int:
    print("\nUploading the example's input data (dags/compare_models/upload_data.py) ...")
    upload = subprocess.run(
        [sys.executable, os.path.join(ROOT, "dags", "compare_models", "upload_data.py")],
        env=stack.env,
        capture_output=True,
        text=True,
    )
    if upload.returncode != 0:
        raise StackError(f"upload_data.py failed:\n{upload.stderr}")
    print("  " + upload.stdout.strip().splitlines()[-1])

    token = stack.token("admin")
    dag = stack.wait_for_dag(DAG_ID, token)
    print(f"Pipeline {DAG_ID} is published (paused: {dag['is_paused']}).")

    print(f"\nPOST {stack.url}/api/v2/dags/{DAG_ID}/dagRuns  conf={{'pipeline_arg': {pipeline_arg}}}")
    run = stack.trigger(DAG_ID, {"pipeline_arg": pipeline_arg}, token)
    run_id = run["dag_run_id"]
    print(f"Run {run_id} is {run['state']}; step states as they change:")
    began = time.monotonic()

    def show(task_id: str, old: str | None, new: str | None) -> None:
        if old is None and new is None:
            return  # a step not scheduled yet: nothing to show
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        print(f"  {stamp}  +{time.monotonic() - began:5.1f}s  {task_id:<12} {old or '-':>9} -> {new}", flush=True)

    run = stack.wait_for_run(DAG_ID, run_id, token, timeout=600, poll=0.2, on_task_change=show)
    print(f"Run {run_id}: {run['state']} in {time.monotonic() - began:.1f} s.")

    if run["state"] == "success":
        show_outputs(stack, run_id, token)
    else:
        show_failures(stack, run_id, token)
    print(f"\nAirflow UI:   {stack.url}/dags/{DAG_ID}/runs/{quote(run_id)}")
    print(f"Log in as:    admin / {stack.passwords['admin']}")
    print(f"REST API:     {stack.url}/api/v2 (token: POST {stack.url}/auth/token)")
    print("Airflow keeps running; `make stop` stops it.")
    return 0 if run["state"] == "success" else 1


def show_outputs(stack: Stack, run_id: str, token: str) -> None:
    from amlflow.storage.location import output_path

    print("\nOutputs (datastore paths, committed with a manifest):")
    for task_id in stack.task_states(DAG_ID, run_id, token):
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}/xcomEntries"
        for entry in stack.api("GET", path, token=token)["xcom_entries"]:
            value = stack.xcom(DAG_ID, run_id, task_id, entry["key"], token)
            if isinstance(value, dict) and "datastore" in value:
                # Step reuse points an output at an earlier run's committed output instead of re-running.
                reused = value["path"] != output_path(DAG_ID, run_id, task_id, entry["key"])
                print(f"  {task_id:<12} {entry['key']:<16} {value['uri']}{'  (reused)' if reused else ''}")
    task_id, key, name = REPORT
    location = stack.xcom(DAG_ID, run_id, task_id, key, token)
    with open(os.path.join(stack.local_output(location), name)) as handle:
        report = json.load(handle)
    summary = {k: report[k] for k in ("best_model", "ranking", "scores", "pipeline_arg", "pipeline_arg_env")}
    print(f"\nReport of {task_id} ({key}/{name}):")
    print("  " + json.dumps(summary, indent=1).replace("\n", "\n  "))


def show_failures(stack: Stack, run_id: str, token: str) -> None:
    for task_id, state in stack.task_states(DAG_ID, run_id, token).items():
        if state == "failed":
            path = f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}/logs/1"
            status, log = stack.request("GET", path, token=token)
            lines = [e.get("event", "") for e in (log or {}).get("content", [])] if status == 200 else [str(log)]
            print(f"\n{task_id} failed; last lines of its log:\n  " + "\n  ".join(lines[-15:]))


if __name__ == "__main__":
    sys.exit(main())
