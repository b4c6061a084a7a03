"""Submit latency: ``Experiment.submit(pipeline)`` from a notebook against triggering the same pipeline
published from a DAG file, on one real deployment.

``scripts/stack.py`` starts the deployment (api-server, scheduler with LocalExecutor, dag-processor,
triggerer; SQLite) with ``Compare_Models`` from its DAG file. Each round, interleaved:

- *trigger*: ``POST /api/v2/dags/Compare_Models/dagRuns`` with ``regenerate_outputs`` (every step runs);
- *submit*: this process, as a notebook would, builds the same pipeline from a folder whose ``train.py``
  was just edited (so every submit sends new code: a new snapshot, a new definition, a parse) and calls
  ``Experiment(ws, "Latency").submit(pipeline)``.

Measured from the call (or the POST) to the first step running, and to the run finished (both seen by
polling every 0.1 s). Printed: medians and the ratio submit / trigger.

    .venv/bin/python benchmarks/submit_latency.py [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from scripts.stack import Stack  # noqa: E402 - the repository root is put on the path first

WORK = os.path.join(HERE, ".work", "submit_latency")
DAG_ID = "Compare_Models"
ACTIVE = ("running", "success", "failed", "up_for_retry")


def prepare() -> tuple[Stack, str]:
    shutil.rmtree(WORK, ignore_errors=True)
    stack = Stack.prepare(os.path.join(WORK, "home"), users={"admin": "admin"})
    shutil.copy(os.path.join(ROOT, "dags", "compare_models.py"), stack.dags_folder)
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(stack.dags_folder, "compare_models"))
    with open(os.path.join(stack.dags_folder, ".airflowignore"), "w") as handle:
        handle.write("compare_models/\n")
    notebook = os.path.join(WORK, "notebook")
    shutil.copytree(stack.dags_folder, notebook, ignore=shutil.ignore_patterns(".airflowignore"))
    return stack, notebook


def as_notebook(stack: Stack) -> None:
    """This process talks to the deployment as a notebook on the same machine (same local datastore)."""
    os.environ.update(
        AIRFLOW_HOME=os.path.join(WORK, "notebook-home"),
        AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT=stack.datastore_root,
        AMLFLOW_API_URL=stack.url,
        AMLFLOW_USERNAME="admin",
        AMLFLOW_PASSWORD=stack.passwords["admin"],
    )


def watch(stack: Stack, token: str, dag_id: str, run_id: str, began: float) -> tuple[float, float]:
    """Seconds from ``began`` to the first step running, and to the run's success."""
    first = None
    while True:
        if first is None and any(state in ACTIVE for state in stack.task_states(dag_id, run_id, token).values()):
            first = time.monotonic() - began
        status, run = stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", token=token)
        if status == 200 and run["state"] in ("success", "failed"):
            if run["state"] != "success":
                raise SystemExit(f"{dag_id} run {run_id} failed: {stack.task_states(dag_id, run_id, token)}")
            return first if first is not None else time.monotonic() - began, time.monotonic() - began
        time.sleep(0.1)


def trigger(stack: Stack, token: str) -> tuple[float, float]:
    began = time.monotonic()
    run = stack.trigger(DAG_ID, {"pipeline_arg": 1, "regenerate_outputs": True}, token)
    return watch(stack, token, DAG_ID, run["dag_run_id"], began)


def submit(stack: Stack, token: str, notebook: str, round_number: int) -> tuple[float, float]:
    from amlflow.core import Experiment
    from amlflow.pipeline.core import dag_file

    with open(os.path.join(notebook, "compare_models", "train.py"), "a") as handle:
        handle.write(f"# edited for round {round_number}\n")  # new code: a new snapshot and definition
    with dag_file(), contextlib.redirect_stdout(io.StringIO()):
        namespace = runpy.run_path(os.path.join(notebook, "compare_models.py"))
    pipeline = namespace["pipeline1"]
    began = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        run = Experiment(namespace["ws"], "Latency").submit(pipeline, pipeline_parameters={"pipeline_arg": 1})
    return watch(stack, token, run.pipeline_id, run.id, began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    stack, notebook = prepare()
    try:
        stack.start()
        upload = os.path.join(stack.dags_folder, "compare_models", "upload_data.py")
        subprocess.run([sys.executable, upload], env=stack.env, check=True, capture_output=True)
        as_notebook(stack)
        token = stack.token("admin")
        stack.wait_for_dag(DAG_ID, token)
        trigger(stack, token), submit(stack, token, notebook, 0)  # warm-up: imports into the page cache
        results: dict[str, list[tuple[float, float]]] = {"submit": [], "trigger": []}
        for i in range(1, args.runs + 1):
            for kind in ("submit", "trigger") if i % 2 else ("trigger", "submit"):
                results[kind].append(submit(stack, token, notebook, i) if kind == "submit" else trigger(stack, token))
                print(
                    f"round {i}/{args.runs} {kind:<8} first step {results[kind][-1][0]:.2f} s, "
                    f"finished {results[kind][-1][1]:.2f} s",
                    file=sys.stderr,
                )
    finally:
        stack.stop()
    print(
        f"\n{args.runs} rounds, Compare_Models (3 steps), one deployment "
        f"({stack.parallelism} LocalExecutor workers, SQLite)\n"
    )
    print("| metric (median, s) | submit(pipeline), new code each time | trigger of the DAG-file pipeline | ratio |")
    print("|---|---|---|---|")
    for label, index in (("call -> first step running", 0), ("call -> run finished", 1)):
        ours = statistics.median(r[index] for r in results["submit"])
        anchor = statistics.median(r[index] for r in results["trigger"])
        print(f"| {label} | {ours:.2f} | {anchor:.2f} | {ours / anchor:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
