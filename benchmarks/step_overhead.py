"""Step overhead: a no-op PythonScriptStep against a BashOperator running the same script.

Both DAGs run in the same Airflow (one AIRFLOW_HOME, SQLite, amlflow's XCom backend) through
``dag.test()``, interleaved, RUNS times each. Printed: median task duration (the task runner's own
start/end times) and median wall time of the whole run, with the ratio amlflow / BashOperator.

    .venv/bin/python benchmarks/step_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import textwrap
import time

from private_airflow import use_private_airflow  # benchmarks/ is on sys.path when a benchmark runs

WORK = os.path.join(os.path.dirname(os.path.abspath(__file__)), ".work", "step_overhead")

AMLFLOW_DAG = """
from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep

# allow_reuse=False: every run executes the script, as the BashOperator does.
step = PythonScriptStep(
    "noop.py", name="noop", arguments=["--n", 1], source_directory="scripts", allow_reuse=False
)
Pipeline(Workspace(), [step]).publish(name="overhead_amlflow")
"""

BASH_DAG = """
import os, sys
from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

scripts = os.path.join(os.path.dirname(__file__), "scripts")
with DAG("overhead_bash", schedule=None):
    BashOperator(task_id="noop", bash_command=f"{sys.executable} noop.py --n 1", cwd=scripts)
"""


def prepare() -> str:
    shutil.rmtree(WORK, ignore_errors=True)
    home = tempfile.mkdtemp(prefix="home-", dir=_mkdir(WORK))
    dags = _mkdir(os.path.join(home, "dags"))
    _mkdir(os.path.join(dags, "scripts"))
    files = {
        "amlflow_dag.py": AMLFLOW_DAG,
        "bash_dag.py": BASH_DAG,
        "scripts/noop.py": "import sys\n",
        ".airflowignore": "scripts/\n",
    }
    for name, body in files.items():
        with open(os.path.join(dags, name), "w") as handle:
            handle.write(textwrap.dedent(body))
    use_private_airflow(home, dags)
    return dags


def _mkdir(path: str) -> str:
    os.makedirs(path, exist_ok=True)
    return path


def run_once(dags: str, dag_id: str) -> tuple[float, float]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=dags, safe_mode=True)
    dag = bag.get_dag(dag_id)
    started = time.perf_counter()
    run = dag.test()
    wall = time.perf_counter() - started
    (ti,) = run.get_task_instances()
    assert str(ti.state) == "success", f"{dag_id}: {ti.state}"
    return (ti.end_date - ti.start_date).total_seconds(), wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    dags = prepare()
    run_once(dags, "overhead_amlflow")  # warm-up: first-call imports and DB caches
    run_once(dags, "overhead_bash")
    samples: dict[str, list[tuple[float, float]]] = {"overhead_amlflow": [], "overhead_bash": []}
    for _ in range(args.runs):
        for dag_id in samples:
            samples[dag_id].append(run_once(dags, dag_id))
    rows = []
    for label, index in (("task duration (s)", 0), ("whole run, wall (s)", 1)):
        ours = statistics.median(s[index] for s in samples["overhead_amlflow"])
        anchor = statistics.median(s[index] for s in samples["overhead_bash"])
        rows.append((label, ours, anchor, ours / anchor))
    print(f"\nStep overhead, median of {args.runs} runs each (no-op script, same Airflow, dag.test)\n")
    print("| metric | PythonScriptStep | BashOperator | ratio |")
    print("|---|---|---|---|")
    for label, ours, anchor, ratio in rows:
        print(f"| {label} | {ours:.3f} | {anchor:.3f} | {ratio:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
