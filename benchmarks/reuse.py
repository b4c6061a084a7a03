"""Step reuse: a full run of the example pipeline against an unchanged re-run.

The example pipeline (``dags/compare_models``: train -> extract -> compare) is copied into a private
AIRFLOW_HOME with ``train.py`` made to spend about 5 s of CPU first, and every script made to append
its name to a counter file. Each round runs it once with ``regenerate_outputs`` (every step runs: the
cost without reuse) and once unchanged (every step may reuse), through ``dag.test()``. Printed: median
wall time of each, the ratio re-run / full run, and how many scripts the re-runs executed (goal: 0).

    .venv/bin/python benchmarks/reuse.py [--rounds 3] [--cpu-seconds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from private_airflow import use_private_airflow  # benchmarks/ is on sys.path when a benchmark runs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "reuse")
STEPS = ("train.py", "extract.py", "compare.py")

COUNT = (
    'import os\nwith open(os.environ["BENCH_COUNTER"], "a") as _c:\n    _c.write(os.path.basename(__file__) + "\\n")\n'
)
BURN = "import time\nwhile time.process_time() < {seconds}:\n    sum(range(10_000))\n"


def prepare(cpu_seconds: float) -> tuple[str, str]:
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    home = tempfile.mkdtemp(prefix="home-", dir=WORK)
    dags = os.path.join(home, "dags")
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(dags, "compare_models"))
    dag_file = shutil.copy(os.path.join(ROOT, "dags", "compare_models.py"), dags)
    shutil.copy(os.path.join(ROOT, "dags", ".airflowignore"), dags)
    for step in STEPS:
        path = os.path.join(dags, "compare_models", step)
        with open(path) as handle:
            body = handle.read()
        burn = BURN.format(seconds=cpu_seconds) if step == "train.py" else ""
        with open(path, "w") as handle:
            handle.write(COUNT + burn + body)
    # A step script sees only the worker variables ``[amlflow] script_environment_passthrough`` names.
    use_private_airflow(
        home,
        dags,
        BENCH_COUNTER=os.path.join(home, "executed.txt"),
        AIRFLOW__AMLFLOW__SCRIPT_ENVIRONMENT_PASSTHROUGH="PATH,HOME,TMPDIR,BENCH_COUNTER",
    )
    subprocess.run([sys.executable, os.path.join(dags, "compare_models", "upload_data.py")], check=True)
    return dag_file, os.environ["BENCH_COUNTER"]


def run_once(dag_file: str, counter: str, conf: dict) -> tuple[float, int]:
    """Wall time of one run and the number of scripts it executed."""
    from airflow.dag_processing.dagbag import DagBag

    open(counter, "w").close()
    dag = DagBag(dag_folder=dag_file, safe_mode=True).get_dag("Compare_Models")
    started = time.perf_counter()
    run = dag.test(run_conf=conf)
    wall = time.perf_counter() - started
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert set(states.values()) == {"success"}, states
    with open(counter) as handle:
        return wall, len(handle.read().split())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu-seconds", type=float, default=5.0)
    args = parser.parse_args()
    dag_file, counter = prepare(args.cpu_seconds)
    full, rerun = [], []
    for _ in range(args.rounds):
        full.append(run_once(dag_file, counter, {"pipeline_arg": 1, "regenerate_outputs": True}))
        rerun.append(run_once(dag_file, counter, {"pipeline_arg": 1}))
    full_wall = statistics.median(w for w, _ in full)
    rerun_wall = statistics.median(w for w, _ in rerun)
    print(f"\nStep reuse, Compare_Models with a {args.cpu_seconds:g} s CPU step, median of {args.rounds} rounds\n")
    print("| metric | full run (regenerate_outputs) | unchanged re-run | ratio |")
    print("|---|---|---|---|")
    print(f"| wall time (s) | {full_wall:.2f} | {rerun_wall:.2f} | {rerun_wall / full_wall:.3f} |")
    print(
        f"| scripts executed | {max(n for _, n in full)} of {len(STEPS)} | "
        f"{max(n for _, n in rerun)} of {len(STEPS)} | |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
