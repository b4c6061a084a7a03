"""Pipeline view load time: the page of a run of 50 steps that logged 1,000 metric values, in headless Chromium.

The embedded default stack (SQLite, LocalExecutor, a local datastore) runs one run of a pipeline of STEPS
PythonScriptSteps in LAYERS layers (each step reads the PipelineData of one step of the layer before), each
logging VALUES_PER_STEP values with ``Run.log_list``. Then Chromium (Debian's, through chromedriver, as the
browser tests drive it) opens, LOADS times each, the run's pipeline view page and, as the anchor, Airflow's
own page of the same run; the time is the browser's, from the request to the load event
(``performance.getEntriesByType('navigation')``). Printed: median and slowest load of each, and the ratio.
The goal is under 1 s for the view.

    .venv/bin/python benchmarks/pipeline_view.py [--loads 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "pipeline_view")
sys.path.insert(0, ROOT)

from amlflow.api.urls import run_page_path  # noqa: E402
from scripts.stack import Stack  # noqa: E402 - the repository root is put on the path first
from tests.fixtures.browser import Browser, start_chromium  # noqa: E402  (the browser tests' launcher)

DAG_ID = "pipeline_view_benchmark"
STEPS, LAYERS, VALUES_PER_STEP = 50, 5, 20

DAG = """
from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
steps, previous = [], []
for layer in range({layers}):
    current = []
    for index in range({per_layer}):
        out = PipelineData(f"out_{{layer}}_{{index}}")
        read = previous[index] if previous else None
        steps.append(PythonScriptStep(
            "log.py", name=f"step_{{layer}}_{{index}}", source_directory="view_scripts", allow_reuse=False,
            arguments=["--out", out] + (["--in", read] if read else []), outputs=[out], inputs=[read] if read else [],
        ))
        current.append(out)
    previous = current
Pipeline(ws, steps).as_dag("{dag_id}")
"""

LOG = """
import argparse, os
from amlflow.core import Run

parser = argparse.ArgumentParser()
parser.add_argument("--out")
parser.add_argument("--in", dest="source")
args = parser.parse_args()
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "part.txt"), "w") as handle:
    handle.write("rows")
Run.get_context().log_list("loss", [1 / (n + 1) for n in range({values})])
"""


def write_dag_folder(folder: str) -> None:
    os.makedirs(os.path.join(folder, "view_scripts"), exist_ok=True)
    files = {
        "pipeline_view_benchmark.py": DAG.format(layers=LAYERS, per_layer=STEPS // LAYERS, dag_id=DAG_ID),
        ".airflowignore": "view_scripts/\n",
        "view_scripts/log.py": LOG.format(values=VALUES_PER_STEP),
    }
    for name, body in files.items():
        with open(os.path.join(folder, name), "w") as handle:
            handle.write(body)


def finished_run(stack: Stack) -> str:
    """The id of one successful run of the pipeline, triggered and waited for."""
    token = stack.token("admin")
    stack.wait_for_dag(DAG_ID, token, timeout=180)
    stack.api("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False}, token)
    run = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {}}, token)
    ended = stack.wait_for_run(DAG_ID, run["dag_run_id"], token, timeout=1800, poll=2)
    if ended["state"] != "success":
        raise SystemExit(f"run {run['dag_run_id']} {ended['state']}")
    return run["dag_run_id"]


def load_times(browser: Browser, stack: Stack, path: str, loads: int) -> list[float]:
    """``loads`` load times of ``path``; the first load (warming the api-server) is not counted."""
    times = []
    for _ in range(loads + 1):
        browser.driver.get(stack.url + path)
        times.append(browser.load_seconds())
    return times[1:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    stack = Stack.prepare(os.path.join(WORK, "home"), parallelism=4)
    write_dag_folder(stack.dags_folder)
    driver = None
    try:
        stack.start()
        run_id = finished_run(stack)
        driver = start_chromium(tempfile.mkdtemp(dir=WORK))
        browser = Browser(driver, WORK)
        browser.open_as(stack, "admin", "/api/v2/monitor/health")
        pages = {
            "amlflow pipeline view (the run's page)": run_page_path(DAG_ID, run_id),
            "anchor: Airflow's own page of the run": f"/dags/{DAG_ID}/runs/{run_id}",
        }
        measured = {label: load_times(browser, stack, path, args.loads) for label, path in pages.items()}
    finally:
        if driver is not None:
            driver.quit()
        stack.stop()
    view, anchor = (statistics.median(times) for times in measured.values())
    print(
        f"\nOne run of {STEPS} steps, {STEPS * VALUES_PER_STEP:,} logged metric values; {args.loads} loads each "
        f"in headless Chromium; {os.cpu_count()} cores\n"
    )
    print("| page | median load (s) | slowest (s) | anchor / this |")
    print("|---|---|---|---|")
    for label, times in measured.items():
        median = statistics.median(times)
        print(f"| {label} | {median:.3f} | {max(times):.3f} | {anchor / median:.2f}x |")
    print(f"\ngoal: the view under 1 s: {'met' if view < 1 else 'NOT met'} ({view:.3f} s)")
    shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
