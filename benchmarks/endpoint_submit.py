"""Submit latency: the AML-compatible endpoint against Airflow's own ``POST /api/v2/dags/{id}/dagRuns``.

One real deployment (``scripts/stack.py``) with the example pipeline (``dags/compare_models.py``). Each
request creates a run of ``Compare_Models`` with ``pipeline_arg=1``: ours posts Azure ML's body to
``/amlflow/pipelines/v1.0/PipelineRuns/PipelineSubmit/Compare_Models`` (which checks the body against
the pipeline, then calls Airflow's trigger handler), the anchor posts ``{"logical_date": null, "conf":
...}`` to Airflow's route. Same client (``Stack.request``), same token, interleaved, after warm-up
requests; the runs are left queued (one active run at a time). Printed: median and 90th percentile of
the request's wall time, and the ratio ours / Airflow's.

    .venv/bin/python benchmarks/endpoint_submit.py [--requests 25]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from scripts.stack import Stack  # noqa: E402 - the repository root is put on the path first

WORK = os.path.join(HERE, ".work", "endpoint_submit")
DAG_ID = "Compare_Models"
OURS = (
    f"/amlflow/pipelines/v1.0/PipelineRuns/PipelineSubmit/{DAG_ID}",
    {
        "ExperimentName": "Benchmark",
        "ParameterAssignments": {"pipeline_arg": 1},
    },
)
ANCHOR = (f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"pipeline_arg": 1}})


def prepare() -> Stack:
    shutil.rmtree(WORK, ignore_errors=True)
    # One run of the DAG at a time: the others wait queued, so that (on SQLite) the scheduler and the tasks
    # write little while the requests are timed.
    config = {"core": {"max_active_runs_per_dag": "1"}}
    stack = Stack.prepare(os.path.join(WORK, "home"), users={"admin": "admin"}, config=config)
    dags = stack.dags_folder
    shutil.copy(os.path.join(ROOT, "dags", "compare_models.py"), dags)
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(dags, "compare_models"))
    with open(os.path.join(dags, ".airflowignore"), "w") as handle:
        handle.write("compare_models/\n")
    return stack


def submit(stack: Stack, token: str, route: tuple[str, dict]) -> float:
    path, body = route
    began = time.perf_counter()
    status, answer = stack.request("POST", path, body, token)
    took = time.perf_counter() - began
    if status != 200:
        raise SystemExit(f"POST {path} returned {status}: {answer}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=25)
    args = parser.parse_args()
    stack = prepare()
    try:
        stack.start()
        token = stack.token("admin")
        stack.wait_for_dag(DAG_ID, token)
        for route in (OURS, ANCHOR, OURS, ANCHOR):  # warm-up: DAG cache, imports, connections
            submit(stack, token, route)
        times: dict[str, list[float]] = {"ours": [], "anchor": []}
        for i in range(args.requests):
            pairs = (("ours", OURS), ("anchor", ANCHOR)) if i % 2 == 0 else (("anchor", ANCHOR), ("ours", OURS))
            for name, route in pairs:
                times[name].append(submit(stack, token, route))
    finally:
        stack.stop()
    print(f"\n{args.requests} requests each, interleaved, one deployment (SQLite), runs left queued\n")
    print("| metric (ms) | AML endpoint (amlflow) | POST /api/v2/dags/{id}/dagRuns | ratio |")
    print("|---|---|---|---|")
    for label, pick in (("median", statistics.median), ("90th percentile", _p90)):
        ours, anchor = pick(times["ours"]) * 1000, pick(times["anchor"]) * 1000
        print(f"| {label} | {ours:.1f} | {anchor:.1f} | {ours / anchor:.2f} |")
    return 0


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


if __name__ == "__main__":
    sys.exit(main())
