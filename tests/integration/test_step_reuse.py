"""Step reuse through Airflow: exactly the steps whose code, arguments, parameters or input data changed run.

One three-step pipeline (prep -> train -> report, each in its own source directory) is run again and
again, changing one thing at a time. Every script appends its name to a counter file outside the
datastore, so "did not run" is proven by the script not having started. The tests of this module run
in order: each one's expectation follows from the state the previous ones left.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from tests.conftest import DAGS
from tests.pipelines import local_output, output_location, passing_to_scripts, raw_xcom, run_dag, task_states

DAG_ID = "reuse_chain"
DAG_FILE = os.path.join(DAGS, "reuse_chain_pipeline.py")
SCRIPTS = os.path.join(DAGS, "reuse_chain_scripts")
STEPS = ("prep.py", "train.py", "report.py")

COUNT = """
import os
with open(os.environ["REUSE_TEST_COUNTER"], "a") as counter:
    counter.write(os.path.basename(__file__) + "\\n")
"""

FILES = {
    "prep/prep.py": COUNT
    + """
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--raw")
parser.add_argument("--out")
args = parser.parse_args()
numbers = [int(line) for line in open(args.raw).read().split()]
os.makedirs(args.out, exist_ok=True)
with open(os.path.join(args.out, "numbers.json"), "w") as handle:
    json_text = "[" + ",".join(str(n) for n in numbers) + "]"
    handle.write(json_text)
print(f"prepared {len(numbers)} numbers")
""",
    "train/train.py": COUNT
    + """
import argparse, json
from helper import OFFSET
from amlflow.core import Run
parser = argparse.ArgumentParser()
parser.add_argument("--data")
parser.add_argument("--factor", type=int)
parser.add_argument("--model")
args = parser.parse_args()
numbers = json.load(open(os.path.join(args.data, "numbers.json")))
total = sum(numbers) * args.factor + OFFSET
os.makedirs(args.model, exist_ok=True)
json.dump({"total": total}, open(os.path.join(args.model, "model.json"), "w"))
run = Run.get_context()
run.log("total", total)
run.log("loss", 0.5)
run.log("loss", 0.25)
run.log_list("numbers", numbers)
run.log_row("curve", epoch=1, acc=0.5)
run.log_row("curve", epoch=2, acc=0.75)
run.log_table("confusion", {"label": ["a", "b"], "count": [3, 4]})
run.parent.log("pipeline_total", total)
print(f"trained: total={total}")
print("a warning", file=__import__("sys").stderr)
""",
    "train/helper.py": "OFFSET = 1\n",
    "train/.amlignore": "notes/\n",
    "train/notes/todo.txt": "first note\n",
    "report/report.py": COUNT
    + """
import argparse, json
parser = argparse.ArgumentParser()
parser.add_argument("--model")
parser.add_argument("--title")
parser.add_argument("--out")
args = parser.parse_args()
total = json.load(open(os.path.join(args.model, "model.json")))["total"]
os.makedirs(args.out, exist_ok=True)
open(os.path.join(args.out, "report.txt"), "w").write(f"{args.title}: {total}\\n")
""",
}

PIPELINE = """
from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

TITLE = "Totals"

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
raw = DataReference(store, data_reference_name="raw", path_on_datastore="reuse_chain/raw.txt")
prepared, model, report = PipelineData("prepared"), PipelineData("model"), PipelineData("report")
factor = PipelineParameter("factor", default_value=2)
prep = PythonScriptStep(
    "prep.py", arguments=["--raw", raw, "--out", prepared], inputs=[raw], outputs=[prepared],
    source_directory="reuse_chain_scripts/prep",
)
train = PythonScriptStep(
    "train.py", arguments=["--data", prepared, "--factor", factor, "--model", model], inputs=[prepared],
    outputs=[model], source_directory="reuse_chain_scripts/train",
)
report_step = PythonScriptStep(
    "report.py", arguments=["--model", model, "--title", TITLE, "--out", report], inputs=[model],
    outputs=[report], source_directory="reuse_chain_scripts/report",
)
Pipeline(ws, [report_step]).publish(name="reuse_chain")
"""


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(textwrap.dedent(text))


@pytest.fixture(scope="module")
def counter(dags_folder, tmp_path_factory):
    """The file every script appends its name to; set in the environment the scripts inherit."""
    path = str(tmp_path_factory.mktemp("reuse") / "executed.txt")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"REUSE_TEST_COUNTER": path, **passing_to_scripts("REUSE_TEST_COUNTER")}.items():
            patch.setenv(name, value)
        yield path


@pytest.fixture(scope="module")
def raw_data(dags_folder):
    """The DataReference's file, in the local folder of the datastore ``workspaceblobstore``."""
    from amlflow import config

    path = os.path.join(config.local_datastore_root(), "workspaceblobstore", "reuse_chain", "raw.txt")
    write(path, "1\n2\n3\n")
    return path


@pytest.fixture(scope="module")
def pipeline(counter, raw_data):
    for name, body in FILES.items():
        write(os.path.join(SCRIPTS, name), body)
    write(DAG_FILE, PIPELINE)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("reuse_chain_scripts/\n")
    return DAG_FILE


def run_counted(counter: str, conf: dict | None = None) -> tuple[object, list[str]]:
    """Run the pipeline; return the DagRun and the sorted names of the scripts that started."""
    open(counter, "w").close()
    dag_run = run_dag(DAG_FILE, DAG_ID, conf)
    assert task_states(dag_run) == dict.fromkeys(STEPS, "success")
    with open(counter) as handle:
        return dag_run, sorted(handle.read().split())


def reuse_info(dag_run, task_id: str) -> dict:
    return json.loads(raw_xcom(dag_run, task_id, "amlflow_reuse"))


def report_text(dag_run) -> str:
    with open(os.path.join(local_output(output_location(dag_run, "report.py", "report")), "report.txt")) as handle:
        return handle.read()


@pytest.fixture(scope="module")
def first_run(pipeline, counter):
    return run_counted(counter)


def test_first_run_executes_every_step(first_run):
    dag_run, executed = first_run
    assert executed == sorted(STEPS)
    assert report_text(dag_run) == "Totals: 13\n"  # (1+2+3) * 2 + 1
    assert raw_xcom(dag_run, "train.py", "amlflow_reuse") is None  # ran: not reused


def test_unchanged_rerun_executes_no_script_and_ends_with_the_same_outputs(first_run, counter):
    first, _ = first_run
    dag_run, executed = run_counted(counter)
    assert executed == []
    for task_id, key in (("prep.py", "prepared"), ("train.py", "model"), ("report.py", "report")):
        assert output_location(dag_run, task_id, key) == output_location(first, task_id, key)
        info = reuse_info(dag_run, task_id)
        assert info["reused"] is True
        assert (info["reused_run_id"], info["reused_task_id"]) == (first.run_id, task_id)
        assert info["fingerprint"] == raw_xcom(first, task_id, "amlflow_fingerprint").strip('"')
    assert report_text(dag_run) == "Totals: 13\n"
    # A reused step hands on the small metrics of the run it reused, like its outputs.
    assert json.loads(raw_xcom(dag_run, "train.py", "amlflow_metrics"))["total"] == 13


def test_a_file_excluded_by_amlignore_changes_nothing(first_run, counter):
    write(os.path.join(SCRIPTS, "train", "notes", "todo.txt"), "an edited note\n")
    write(os.path.join(SCRIPTS, "train", "notes", "new.txt"), "a new note\n")
    _, executed = run_counted(counter)
    assert executed == []


def test_another_file_of_the_source_directory_reruns_its_step_and_those_downstream(first_run, counter):
    write(os.path.join(SCRIPTS, "train", "helper.py"), "OFFSET = 100\n")
    dag_run, executed = run_counted(counter)
    assert executed == ["report.py", "train.py"]
    assert report_text(dag_run) == "Totals: 112\n"
    first, _ = first_run
    assert output_location(dag_run, "prep.py", "prepared") == output_location(first, "prep.py", "prepared")


def test_the_script_itself_reruns_only_its_step(first_run, counter):
    path = os.path.join(SCRIPTS, "report", "report.py")
    with open(path, "a") as handle:
        handle.write("# a comment is a change of the script\n")
    dag_run, executed = run_counted(counter)
    assert executed == ["report.py"]
    assert report_text(dag_run) == "Totals: 112\n"


def test_a_parameter_value_of_the_run_reruns_the_steps_that_use_it(first_run, counter):
    dag_run, executed = run_counted(counter, {"factor": 3})
    assert executed == ["report.py", "train.py"]
    assert report_text(dag_run) == "Totals: 118\n"
    # Back to the default value: the earlier runs with factor=2 are reused.
    dag_run, executed = run_counted(counter)
    assert executed == []
    assert report_text(dag_run) == "Totals: 112\n"


def test_an_argument_reruns_its_step(first_run, counter):
    with open(DAG_FILE) as handle:
        source = handle.read()
    write(DAG_FILE, source.replace('TITLE = "Totals"', 'TITLE = "Sums"'))
    dag_run, executed = run_counted(counter)
    assert executed == ["report.py"]
    assert report_text(dag_run) == "Sums: 112\n"


def test_new_content_of_a_data_reference_reruns_its_readers_and_everything_downstream(raw_data, counter):
    write(raw_data, "4\n5\n6\n")  # same size, same name: only the content differs
    dag_run, executed = run_counted(counter)
    assert executed == sorted(STEPS)
    assert report_text(dag_run) == "Sums: 130\n"  # (4+5+6) * 2 + 100


def test_regenerate_outputs_runs_every_step(first_run, counter):
    dag_run, executed = run_counted(counter, {"regenerate_outputs": True})
    assert executed == sorted(STEPS)
    assert all(raw_xcom(dag_run, task_id, "amlflow_reuse") is None for task_id in STEPS)
    assert report_text(dag_run) == "Sums: 130\n"


def test_stdout_stderr_and_metrics_are_stored_under_the_step_run_path(first_run):
    from amlflow.runtime.artifacts import read_log, read_metrics
    from amlflow.storage import get_backend
    from amlflow.storage.location import run_artifact_path

    dag_run, _ = first_run
    assert "trained: total=13" in read_log(DAG_ID, dag_run.run_id, "train.py", "stdout")
    assert "a warning" in read_log(DAG_ID, dag_run.run_id, "train.py", "stderr")
    assert read_metrics(DAG_ID, dag_run.run_id, "train.py") == {
        "total": 13,
        "loss": [0.5, 0.25],
        "numbers": [1, 2, 3],
        "curve": {"epoch": [1, 2], "acc": [0.5, 0.75]},
        "confusion": {"label": ["a", "b"], "count": [3, 4]},
    }
    parent = get_backend("workspaceblobstore").read_bytes(
        run_artifact_path(DAG_ID, dag_run.run_id, "parent-metrics/train.py.json")
    )
    assert json.loads(parent) == {"pipeline_total": 13}
    assert json.loads(raw_xcom(dag_run, "train.py", "amlflow_metrics"))["loss"] == [0.5, 0.25]
    assert read_metrics(DAG_ID, dag_run.run_id, "prep.py") == {}
    assert "prepared 3 numbers" in read_log(DAG_ID, dag_run.run_id, "prep.py")
