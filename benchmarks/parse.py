"""DAG parse time of many pipelines: amlflow's YAML loader against the same DAGs hand-written and as
dag-factory 1.1.0 YAML, and the task runner's start-up parse with many pipelines against one.

    .venv/bin/python benchmarks/parse.py [--sizes 100 500] [--repeat 3]

Every pipeline has 10 PythonScriptSteps in a chain (PipelineData from each step to the next, one
PipelineParameter). The three forms give the same DAGs with the same operator
(``PythonScriptStepOperator``, with the arguments amlflow's factory passes):

- amlflow: ``<name>.yaml`` files read by one loader file (``dags/pipelines_loader.py``); the check file
  (``dags/pipelines_check.py``, reports bad definitions) is timed on its own row;
- hand-written: one static ``.py`` DAG file per pipeline, generated from amlflow's own DAG;
- dag-factory 1.1.0: one YAML file per pipeline and one ``load_yaml_dags`` loader file.

Each figure is the median of ``--repeat`` fresh processes, each timing ``DagBag(dag_folder=...)`` after
importing ``airflow.sdk`` (the dag-processor pre-imports Airflow modules). The task runner's parse is
``BundleDagBag`` on the loader file under ``get_parsing_context()`` for one DAG and task, as
``airflow.sdk.execution_time.task_runner.parse`` does. dag-factory registers an Airflow plugin in every
process once installed, so it is never installed into the project's venv: this script creates
``benchmarks/.work/dagfactory-venv`` (it sees the project venv's packages, and adds ``dag-factory==1.1.0``
with ``pip install --no-deps``; its dependencies are already pinned in constraints.txt).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "benchmarks", ".work", "parse")
DAG_FACTORY = "dag-factory==1.1.0"
DAG_FACTORY_VENV = os.path.join(ROOT, "benchmarks", ".work", "dagfactory-venv")
STEPS = 10
OPERATOR = "amlflow.operators.python_script.PythonScriptStepOperator"


def pipeline_yaml(name: str) -> str:
    lines = [
        f"description: Benchmark pipeline {name}",
        "parameters:",
        "  alpha: {type: integer, default: 1}",
        "pipeline_data:",
        *(f"  d{i}: {{datastore: workspaceblobstore}}" for i in range(STEPS)),
        "default_source_directory: scripts",
        "steps:",
    ]
    for i in range(STEPS):
        ins = [f"$data.d{i - 1}"] if i else []
        args = ["--alpha", "$param.alpha", "--out", f"$data.d{i}", *(["--in", f"$data.d{i - 1}"] if i else [])]
        lines += [
            "  - kind: PythonScriptStep",
            f"    name: s{i}",
            "    script_name: step.py",
            f"    arguments: [{', '.join(args)}]",
            f"    inputs: [{', '.join(ins)}]",
            f"    outputs: [$data.d{i}]",
        ]
    return "\n".join(lines) + "\n"


def operator_kwargs(task) -> dict:
    return {
        "task_id": task.task_id,
        "script_name": task.script_name,
        "source_directory": task.source_directory,
        "arguments": task.arguments,
        "inputs": task.inputs,
        "outputs": task.outputs,
        "step_params": task.step_params,
        "compute_target": task.compute_target,
        "allow_reuse": task.allow_reuse,
    }


def hand_written(dag) -> str:
    """A static DAG file that builds exactly ``dag`` (made from amlflow's DAG so both are the same)."""
    tasks = "\n".join(f"    t{i} = PythonScriptStepOperator(**{operator_kwargs(t)!r})" for i, t in enumerate(dag.tasks))
    chain = " >> ".join(f"t{i}" for i in range(len(dag.tasks)))
    return (
        textwrap.dedent(
            f"""\
        from airflow.sdk import DAG, Param
        from amlflow.operators.python_script import PythonScriptStepOperator

        with DAG(
            dag_id={dag.dag_id!r},
            params={{"alpha": Param(1, type="integer", description="PipelineParameter alpha")}},
            tags={set(dag.tags)!r},
            schedule=None,
            fail_fast=True,
            is_paused_upon_creation=False,
            description={dag.description!r},
            doc_md={dag.doc_md!r},
        ) as dag:
        """
        )
        + f"{tasks}\n    {chain}\n"
    )


def dag_factory_yaml(dag) -> str:
    import yaml

    tasks = []
    for i, task in enumerate(dag.tasks):
        conf = {"task_id": task.task_id, "operator": OPERATOR, **operator_kwargs(task)}
        conf.pop("compute_target")
        if i:
            conf["dependencies"] = [dag.tasks[i - 1].task_id]
        tasks.append(conf)
    body = {
        dag.dag_id: {
            "default_args": {"start_date": "2024-01-01"},
            "schedule": None,
            "params": {"alpha": 1},
            "tags": sorted(dag.tags),
            "fail_fast": True,
            "is_paused_upon_creation": False,
            "description": dag.description,
            "tasks": tasks,
        }
    }
    return yaml.safe_dump(body, sort_keys=False)


def make_folders(count: int) -> dict[str, str]:
    """The three DAG folders with ``count`` pipelines each (and a one-pipeline amlflow/dag-factory folder)."""
    from amlflow.factory.yaml_loader import dag_from_yaml

    base = os.path.join(WORK, str(count))
    shutil.rmtree(base, ignore_errors=True)
    folders = {k: os.path.join(base, k) for k in ("amlflow", "hand", "dagfactory")}
    pipelines = os.path.join(folders["amlflow"], "pipelines")
    os.makedirs(os.path.join(pipelines, "scripts"))
    os.makedirs(folders["hand"])
    os.makedirs(os.path.join(folders["dagfactory"], "pipelines"))
    with open(os.path.join(pipelines, "scripts", "step.py"), "w") as handle:
        handle.write("print('step')\n")
    for name in ("pipelines_loader.py", "pipelines_check.py"):
        shutil.copy(os.path.join(ROOT, "dags", name), folders["amlflow"])
    with open(os.path.join(folders["amlflow"], ".airflowignore"), "w") as handle:
        handle.write("pipelines/\n")
    with open(os.path.join(folders["dagfactory"], "dagfactory_loader.py"), "w") as handle:
        handle.write(
            "# Airflow DAGs from the YAML files in pipelines/ (dag-factory)\nimport os\n\n"
            "from dagfactory import load_yaml_dags\n\n"
            "load_yaml_dags(globals(), dags_folder=os.path.join(os.path.dirname(__file__), 'pipelines'))\n"
        )
    with open(os.path.join(folders["dagfactory"], ".airflowignore"), "w") as handle:
        handle.write("pipelines/\n")
    for i in range(count):
        name = f"p{i:04d}"
        path = os.path.join(pipelines, f"{name}.yaml")
        with open(path, "w") as handle:
            handle.write(pipeline_yaml(name))
        dag = dag_from_yaml(path)
        with open(os.path.join(folders["hand"], f"{name}.py"), "w") as handle:
            handle.write(hand_written(dag))
        with open(os.path.join(folders["dagfactory"], "pipelines", f"{name}.yaml"), "w") as handle:
            handle.write(dag_factory_yaml(dag))
    return folders


def dag_factory_python() -> str:
    """Python of a venv that sees the project's packages plus dag-factory (created once)."""
    python = os.path.join(DAG_FACTORY_VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", DAG_FACTORY_VENV], check=True)
        site = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        with open(os.path.join(site, "amlflow_project.pth"), "w") as handle:
            handle.write(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
        subprocess.run(
            [
                python,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "-c",
                os.path.join(ROOT, "constraints.txt"),
                DAG_FACTORY,
            ],
            check=True,
        )
    return python


_MEASURE = """
import json, os, sys, time
import airflow.sdk
from airflow.dag_processing.dagbag import BundleDagBag, DagBag
from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager
target, dag_id, task_id, bundle = sys.argv[1:5]
start = time.perf_counter()
if dag_id:
    with _airflow_parsing_context_manager(dag_id=dag_id, task_id=task_id):
        bag = BundleDagBag(dag_folder=target, safe_mode=False, load_op_links=False, bundle_path=bundle, bundle_name="b")
else:
    bag = DagBag(dag_folder=target, safe_mode=True)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "dags": len(bag.dags), "errors": len(bag.import_errors)}))
"""


def measure(python: str, target: str, dag_id: str = "", task_id: str = "") -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": os.path.join(WORK, "home"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "0",
        "DO_NOT_TRACK": "1",
    }
    bundle = target if os.path.isdir(target) else os.path.dirname(target)
    out = subprocess.run(
        [python, "-c", _MEASURE, target, dag_id, task_id, bundle], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def medians(targets: dict[str, tuple[str, str, int]], repeat: int, dag_id: str = "") -> dict[str, float]:
    """Median seconds per target (python, path, expected DAG count), runs interleaved so load hits all alike.

    ``<label> cold`` is the first run: no YAML cache entries, no ``__pycache__`` of the DAG files yet.
    """
    runs: dict[str, list[float]] = {label: [] for label in targets}
    for _ in range(repeat):
        for label, (python, target, expect) in targets.items():
            result = measure(python, target, dag_id, "s5" if dag_id else "")
            if result["dags"] != expect:
                raise SystemExit(f"{target}: {result['dags']} DAGs parsed, expected {expect} ({result})")
            runs[label].append(result["seconds"])
    result = {label: statistics.median(values) for label, values in runs.items()}
    result.update({f"{label} cold": values[0] for label, values in runs.items()})
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.makedirs(os.path.join(WORK, "home"), exist_ok=True)
    os.environ["AIRFLOW_HOME"] = os.path.join(WORK, "home")  # before this process imports Airflow
    ours, theirs = sys.executable, dag_factory_python()
    print(f"# {STEPS}-step pipelines, median of {args.repeat} fresh processes each (interleaved)\n")
    print("## Parse time of the whole DAG folder (s)\n")
    print("| pipelines | amlflow loader | amlflow check file | hand-written files | dag-factory 1.1.0 ", end="")
    print("| loader / hand-written | (loader + check) / hand-written | cold: loader, check, hand-written |")
    print("|---|---|---|---|---|---|---|---|")
    folders = {}
    for count in args.sizes:
        folders[count] = f = make_folders(count)
        shutil.rmtree(os.path.join(WORK, "home", "amlflow"), ignore_errors=True)  # the YAML cache
        m = medians(
            {
                "loader": (ours, os.path.join(f["amlflow"], "pipelines_loader.py"), count),
                "check": (ours, os.path.join(f["amlflow"], "pipelines_check.py"), 0),
                "hand": (ours, f["hand"], count),
                "factory": (theirs, f["dagfactory"], count),
            },
            args.repeat,
        )
        print(
            f"| {count} | {m['loader']:.2f} | {m['check']:.2f} | {m['hand']:.2f} | {m['factory']:.2f} "
            f"| {m['loader'] / m['hand']:.2f} | {(m['loader'] + m['check']) / m['hand']:.2f} "
            f"| {m['loader cold']:.2f}, {m['check cold']:.2f}, {m['hand cold']:.2f} |"
        )
    count = max(args.sizes)
    many, one = folders[count], make_folders(1)
    dag_id = "p0000"
    m = medians(
        {
            "amlflow many": (ours, os.path.join(many["amlflow"], "pipelines_loader.py"), 1),
            "amlflow one": (ours, os.path.join(one["amlflow"], "pipelines_loader.py"), 1),
            "factory many": (theirs, os.path.join(many["dagfactory"], "dagfactory_loader.py"), count),
            "factory one": (theirs, os.path.join(one["dagfactory"], "dagfactory_loader.py"), 1),
            "hand": (ours, os.path.join(many["hand"], f"{dag_id}.py"), 1),
        },
        args.repeat,
        dag_id,
    )
    print(f"\n## Task start-up parse of the file of DAG {dag_id}, task s5 (s)\n")
    print(f"| form | {count} pipelines in the file | 1 pipeline in the file | ratio |")
    print("|---|---|---|---|")
    print(
        f"| amlflow loader | {m['amlflow many']:.3f} | {m['amlflow one']:.3f} "
        f"| {m['amlflow many'] / m['amlflow one']:.2f} |"
    )
    print(
        f"| dag-factory 1.1.0 | {m['factory many']:.3f} | {m['factory one']:.3f} "
        f"| {m['factory many'] / m['factory one']:.2f} |"
    )
    print(f"| hand-written file (for scale) | - | {m['hand']:.3f} | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
