"""ParallelRunStep against a hand-written dynamic-task-mapping DAG and a one-step PythonScriptStep loop.

FILES small files (default 1,000) in a folder of the local default datastore, a ``run()`` of about 10 ms per
file (reading it, then a 10 ms sleep, timed), mini_batch_size 10, in three DAGs of one real deployment
(``scripts/stack.py``: api-server, scheduler with LocalExecutor, dag-processor, triggerer; SQLite):

* ``PRS_Bench``: a ParallelRunStep over ``Dataset.File.from_files`` of the folder, output_action
  append_row, node_count=1, process_count_per_node=2 (so at most 2 mini-batches at once), allow_reuse=False;
* ``PRS_Anchor``: hand-written mapping with the same work: a plan ``@task`` listing the files in batches of
  10, a mapped ``@task`` (``max_active_tis_per_dagrun=2``) returning one row per file, a final ``@task``
  writing the rows to one file;
* ``PRS_Loop``: one PythonScriptStep looping over all the files of the same dataset (mounted).

Each run is ``POST /api/v2/dags/{id}/dagRuns`` then polling every 0.1 s until it succeeds; after every run
its rows file is read back (every file once). One warm-up run each, then RUNS rounds, interleaved (who goes
first alternates). Pure work is the sum of the timed per-file work divided by the concurrency (2; 1 for the
loop); overhead per mini-batch = (wall - pure work) / mini-batches.

    .venv/bin/python benchmarks/parallel_run.py [--files 1000] [--runs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import textwrap
import time
from datetime import datetime
from urllib.parse import quote

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from scripts.stack import Stack  # noqa: E402 - the repository root is put on the path first

WORK = os.path.join(HERE, ".work", "parallel_run")
OURS, ANCHOR, LOOP = "PRS_Bench", "PRS_Anchor", "PRS_Loop"
STEP, LOOP_STEP, OUTPUT = "score", "loop", "scores"
BATCH, CONCURRENCY, WORK_SECONDS = 10, 2, 0.010
FOLDER = "bench/files"  # on the default datastore (workspaceblobstore, a local folder)
ROWS_FILE = "rows.txt"

# The work of one file, the same in all three: read it, sleep 10 ms, one row "<name> <seconds of work>".
WORK_FUNCTION = f"""
def work(path):
    began = time.perf_counter()
    with open(path) as handle:
        handle.read()
    time.sleep({WORK_SECONDS})
    return f"{{os.path.basename(path)}} {{time.perf_counter() - began:.6f}}"
"""

ENTRY_SCRIPT = (
    "import os\nimport time\n"
    + WORK_FUNCTION
    + """

def init():
    pass


def run(mini_batch):
    return [work(path) for path in mini_batch]
"""
)

LOOP_SCRIPT = (
    "import argparse\nimport os\nimport time\n"
    + WORK_FUNCTION
    + f"""

parser = argparse.ArgumentParser()
parser.add_argument("--input")
parser.add_argument("--output")
args = parser.parse_args()
paths = sorted(os.path.join(root, name) for root, _dirs, names in os.walk(args.input) for name in names)
os.makedirs(args.output, exist_ok=True)
with open(os.path.join(args.output, "{ROWS_FILE}"), "w") as handle:
    handle.writelines(work(path) + "\\n" for path in paths)
"""
)

OURS_DAG = f"""
from amlflow.core import Datastore, Environment, Workspace
from amlflow.core.dataset import Dataset
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import ParallelRunConfig, ParallelRunStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
files = Dataset.File.from_files(path=(store, "{FOLDER}"), validate=False)
config = ParallelRunConfig(
    source_directory="prs_code",
    entry_script="score.py",
    mini_batch_size="{BATCH}",
    error_threshold=0,
    output_action="append_row",
    append_row_file_name="{ROWS_FILE}",
    environment=Environment(name="bench"),
    compute_target="local",
    node_count=1,
    process_count_per_node={CONCURRENCY},
)
step = ParallelRunStep(
    name="{STEP}",
    parallel_run_config=config,
    inputs=[files.as_named_input("files").as_mount()],
    output=PipelineData("{OUTPUT}", datastore=store),
    allow_reuse=False,
)
Pipeline(ws, [step]).publish(name="{OURS}")
"""

LOOP_DAG = f"""
from amlflow.core import Datastore, Workspace
from amlflow.core.dataset import Dataset
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
files = Dataset.File.from_files(path=(store, "{FOLDER}"), validate=False).as_named_input("files").as_mount()
out = PipelineData("{OUTPUT}", datastore=store)
step = PythonScriptStep(
    "loop.py", name="{LOOP_STEP}", arguments=["--input", files, "--output", out], inputs=[files],
    outputs=[out], source_directory="loop_code", compute_target="local", allow_reuse=False,
)
Pipeline(ws, [step]).publish(name="{LOOP}")
"""

ANCHOR_DAG = (
    "import os\nimport time\n\nfrom airflow.sdk import DAG, task\n"
    + WORK_FUNCTION
    + f"""

ROOT = __ROOT__  # the local datastore folders
SOURCE = os.path.join(ROOT, "workspaceblobstore", "{FOLDER}")

with DAG("{ANCHOR}", schedule=None, is_paused_upon_creation=False):

    @task
    def plan():
        paths = sorted(os.path.join(SOURCE, name) for name in os.listdir(SOURCE))
        return [paths[start : start + {BATCH}] for start in range(0, len(paths), {BATCH})]

    @task(max_active_tis_per_dagrun={CONCURRENCY})
    def mini_batch(paths):
        return [work(path) for path in paths]

    @task
    def gather(batches, run_id=None):
        folder = os.path.join(ROOT, "workspaceblobstore", "bench-anchor", run_id)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "{ROWS_FILE}"), "w") as handle:
            handle.writelines(row + "\\n" for rows in batches for row in rows)

    gather(mini_batch.expand(paths=plan()))
"""
)


def prepare(files: int) -> Stack:
    shutil.rmtree(WORK, ignore_errors=True)
    stack = Stack.prepare(os.path.join(WORK, "home"), users={"admin": "admin"})
    dags = stack.dags_folder
    sources = {
        "prs_bench.py": OURS_DAG,
        "prs_loop.py": LOOP_DAG,
        "prs_anchor.py": ANCHOR_DAG.replace("__ROOT__", repr(stack.datastore_root)),
        "prs_code/score.py": ENTRY_SCRIPT,
        "loop_code/loop.py": LOOP_SCRIPT,
        ".airflowignore": "prs_code/\nloop_code/\n",
    }
    for name, body in sources.items():
        path = os.path.join(dags, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(body))
    folder = os.path.join(stack.datastore_root, "workspaceblobstore", *FOLDER.split("/"))
    os.makedirs(folder)
    for n in range(files):
        with open(os.path.join(folder, f"{n:05d}.txt"), "w") as handle:
            handle.write(f"file {n}\n" * 8)
    return stack


def tis(stack: Stack, token: str, dag_id: str, run_id: str, task_id: str, mapped: bool) -> list[dict]:
    base = f"/api/v2/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances/{quote(task_id)}"
    if not mapped:
        return [stack.api("GET", base, token=token)]
    found: list[dict] = []
    while True:
        page = stack.api("GET", f"{base}/listMapped?limit=100&offset={len(found)}", token=token)
        found.extend(page["task_instances"])
        if not page["task_instances"] or len(found) >= page["total_entries"]:
            return found


def duration(ti: dict) -> float:
    return (datetime.fromisoformat(ti["end_date"]) - datetime.fromisoformat(ti["start_date"])).total_seconds()


def rows_file(stack: Stack, token: str, dag_id: str, run_id: str) -> str:
    if dag_id == ANCHOR:
        return os.path.join(stack.datastore_root, "workspaceblobstore", "bench-anchor", run_id, ROWS_FILE)
    task_id = STEP if dag_id == OURS else LOOP_STEP
    return os.path.join(stack.local_output(stack.xcom(dag_id, run_id, task_id, OUTPUT, token)), ROWS_FILE)


def run_once(stack: Stack, token: str, dag_id: str, files: int) -> dict[str, float]:
    began = time.monotonic()
    run = stack.trigger(dag_id, {"regenerate_outputs": True} if dag_id != ANCHOR else {}, token)
    run = stack.wait_for_run(dag_id, run["dag_run_id"], token, timeout=1800, poll=0.1)
    wall = time.monotonic() - began
    run_id = run["dag_run_id"]
    if run["state"] != "success":
        raise SystemExit(f"{dag_id} run {run_id} {run['state']}: {stack.task_states(dag_id, run_id, token)}")
    with open(rows_file(stack, token, dag_id, run_id)) as handle:
        rows = [line.split() for line in handle.read().splitlines()]
    names = sorted(name for name, _ in rows)
    if names != [f"{n:05d}.txt" for n in range(files)]:
        raise SystemExit(f"{dag_id} run {run_id}: {len(rows)} rows, not one per file")
    work = sum(float(seconds) for _, seconds in rows)
    result = {
        "wall": wall,
        "server": (datetime.fromisoformat(run["end_date"]) - datetime.fromisoformat(run["queued_at"])).total_seconds(),
        "work": work,
    }
    if dag_id == LOOP:
        result.update(pure=work, batches=0, task=duration(tis(stack, token, dag_id, run_id, LOOP_STEP, False)[0]))
        return result
    plan, mapped, gather = (
        (f"{STEP}.plan", f"{STEP}.mini_batch", STEP) if dag_id == OURS else ("plan", "mini_batch", "gather")
    )
    batches = tis(stack, token, dag_id, run_id, mapped, True)
    result.update(
        pure=work / CONCURRENCY,
        batches=len(batches),
        plan=duration(tis(stack, token, dag_id, run_id, plan, False)[0]),
        gather=duration(tis(stack, token, dag_id, run_id, gather, False)[0]),
        batch_median=statistics.median(duration(ti) for ti in batches),
        batch_sum=sum(duration(ti) for ti in batches),
    )
    return result


def table(results: dict[str, list[dict[str, float]]], runs: int, files: int, parallelism: int) -> str:
    def med(dag_id: str, key: str) -> float:
        return statistics.median(r[key] for r in results[dag_id])

    batches = int(med(OURS, "batches"))
    lines = [
        f"{files} files, {batches} mini-batches of {BATCH}, ~{WORK_SECONDS * 1000:g} ms of work per file, "
        f"{CONCURRENCY} at once; median of {runs} runs each after one warm-up; one deployment "
        f"({parallelism} LocalExecutor workers, SQLite)",
        "",
        "| metric (median) | ParallelRunStep | hand-written mapping | ratio | PythonScriptStep loop |",
        "|---|---|---|---|---|",
    ]

    def row(label: str, key: str, fmt: str = ".2f", loop: str | None = None) -> None:
        ours, anchor = med(OURS, key), med(ANCHOR, key)
        ratio = f"{ours / anchor:.2f}" if anchor else "-"
        loop = loop if loop is not None else format(med(LOOP, key), fmt)
        lines.append(f"| {label} | {ours:{fmt}} | {anchor:{fmt}} | {ratio} | {loop} |")

    row("wall time per pipeline run, trigger -> success (s)", "wall")
    row("queued -> end, server (s)", "server")
    row(f"pure work: timed work / concurrency ({CONCURRENCY}; loop 1) (s)", "pure")
    for dag_id in results:
        for r in results[dag_id]:
            r["overhead"] = r["wall"] - r["pure"]
            r["per_batch"] = r["overhead"] / (r["batches"] or files / BATCH)
    row("overhead: wall - pure work (s)", "overhead")
    row(f"overhead per mini-batch (s) (loop: per {BATCH} files)", "per_batch", ".3f")
    row("plan task duration (s)", "plan", loop="-")
    row("mini-batch task duration (s)", "batch_median", ".3f", loop="-")
    row(f"sum of mini-batch task durations / {CONCURRENCY} (s)", "batch_half", loop="-")
    row("gather task duration (s)", "gather", loop="-")
    lines.append(f"| the loop's one task duration (s) | - | - | | {med(LOOP, 'task'):.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    stack = prepare(args.files)
    results: dict[str, list[dict[str, float]]] = {OURS: [], ANCHOR: [], LOOP: []}
    try:
        stack.start()
        token = stack.token("admin")
        for dag_id in results:
            stack.wait_for_dag(dag_id, token, timeout=120)
            warm = run_once(stack, token, dag_id, args.files)  # warm-up: first task start-up, page cache
            print(f"warm-up {dag_id:<11} wall {warm['wall']:.2f} s", file=sys.stderr)
        for i in range(args.runs):
            for dag_id in (OURS, ANCHOR, LOOP) if i % 2 == 0 else (ANCHOR, OURS, LOOP):
                results[dag_id].append(run_once(stack, token, dag_id, args.files))
                print(f"run {i + 1}/{args.runs} {dag_id:<11} wall {results[dag_id][-1]['wall']:.2f} s", file=sys.stderr)
    finally:
        stack.stop()
        with open(os.path.join(WORK, "results.json"), "w") as handle:
            json.dump(results, handle)
    for dag_id in (OURS, ANCHOR):
        for r in results[dag_id]:
            r["batch_half"] = r["batch_sum"] / CONCURRENCY
    print("\n" + table(results, args.runs, args.files, stack.parallelism))
    return 0


if __name__ == "__main__":
    sys.exit(main())
