"""ParallelRunConfig and ParallelRunStep: Azure ML's checks and messages, the task group a step becomes,
the entry-script driver (init once, rows, retries, timeout, context) and the YAML round trip."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from amlflow.core import Datastore, Environment, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.core.dataset import Dataset
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import ParallelRunConfig, ParallelRunStep
from amlflow.runtime import mini_batches
from amlflow.runtime.parallel_driver import INIT_FAILED


@pytest.fixture
def folder(tmp_path, monkeypatch):
    (tmp_path / "Code").mkdir()
    (tmp_path / "Code" / "score.py").write_text("def init():\n    pass\n\ndef run(batch):\n    return batch\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def config(**changes):
    arguments = {
        "source_directory": "Code",
        "entry_script": "score.py",
        "mini_batch_size": "5",
        "error_threshold": 10,
        "output_action": "append_row",
        "environment": Environment(name="batch_environment"),
        "compute_target": "cpu-cluster",
        "node_count": 2,
    }
    arguments.update(changes)
    return ParallelRunConfig(**arguments)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"environment": None}, "Parameter environment is required"),
        ({"environment": "env"}, "Parameter environment must be an instance of azureml.core.Environment"),
        ({"output_action": "append"}, "Parameter output_action must be summary_only or append_row."),
        ({"error_threshold": -2}, "error_threshold '-2' is not an int value greater than or equal to -1."),
        ({"allowed_failed_percent": 101}, "allowed_failed_percent '101' is not between 0 and 100."),
        ({"partition_keys": ["a"]}, "Parameters mini_batch_size and partition_keys are mutually exclusive"),
        ({"mini_batch_size": "5 files"}, r"Parameter mini_batch_size must follow regex rule ^\d+([kKmMgG][bB])*$."),
        ({"mini_batch_size": 1.5}, "Parameter mini_batch_size must be of type int or str."),
        ({"process_count_per_node": 0}, "Parameter process_count_per_node must be an integer greater than 0."),
        ({"run_invocation_timeout": 0}, "Parameter run_invocation_timeout must be an integer greater than 0."),
        ({"run_max_try": 0}, "Parameter run_max_try must be an integer greater than 0."),
        ({"append_row_file_name": "a:b.txt"}, "Parameter append_row_file_name must be a valid UNIX file name."),
        (
            {"mini_batch_size": None, "partition_keys": PipelineParameter("keys", default_value="Store")},
            "default_value of PipelineParameter partition_keys must be json dump result of a list of str",
        ),
    ],
)
def test_parallel_run_config_refuses_what_azure_ml_refuses_with_its_message(folder, changes, message):
    with pytest.raises(ValueError) as raised:
        config(**changes)
    assert message in str(raised.value)


def test_mini_batch_sizes_are_read_as_azure_ml_reads_them(folder):
    assert config(mini_batch_size="1KB").mini_batch_size == 1024
    assert config(mini_batch_size="10MB").mini_batch_size == 10 * 1024**2
    assert config(mini_batch_size="20").mini_batch_size == 20
    defaults = config(mini_batch_size=None)
    assert (defaults.run_invocation_timeout, defaults.run_max_try, defaults.logging_level) == (60, 3, "INFO")
    assert defaults.row_file_name == "parallel_run_step.txt"


def test_node_count_must_fit_the_cluster(folder):
    cluster = AmlCompute(Workspace(), "cpu-cluster")
    cluster.max_nodes = 2
    with pytest.raises(ValueError, match=re.escape("node_count '3' is not between 1 and max_nodes 2.")):
        config(compute_target=cluster, node_count=3)


def file_input():
    store = Datastore(Workspace(), "workspaceblobstore")
    return Dataset.File.from_files(path=(store, "mnist/*.png"), validate=False).as_named_input("mnist").as_mount()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["model"], "Found invalid argument 'model'. As your arguments will be merged with reserved argument"),
        (["--mini_batch_size", "3"], "'mini_batch_size' is a reserved argument in ParallelRunStep"),
        (["--output=x"], "'output' is a reserved argument in ParallelRunStep"),
    ],
)
def test_parallel_run_step_refuses_positional_and_reserved_arguments(folder, arguments, message):
    with pytest.raises(UserErrorException, match=re.escape(message)):
        ParallelRunStep("score", config(), [file_input()], PipelineData("out"), arguments=arguments)


def test_parallel_run_step_needs_inputs_an_output_and_direct_tabular_inputs(folder):
    with pytest.raises(UserErrorException, match="The parameter 'inputs' must be a list"):
        ParallelRunStep("score", config(), [], PipelineData("out"))
    with pytest.raises(UserErrorException, match="Please specify output parameter"):
        ParallelRunStep("score", config(), [file_input()])
    store = Datastore(Workspace(), "workspaceblobstore")
    table = Dataset.Tabular.from_delimited_files(path=(store, "iris/*.csv"), validate=False)
    with pytest.raises(UserErrorException, match="All inputs of step must be same type"):
        ParallelRunStep("score", config(), [file_input(), table.as_named_input("iris")], PipelineData("out"))
    with pytest.raises(UserErrorException, match="Step input must be of any type"):
        ParallelRunStep("score", config(), [PipelineData("raw")], PipelineData("out"))
    with pytest.raises(ValueError, match=re.escape("The value 'nope.py' specified in entry_script doesn't exist.")):
        ParallelRunStep("score", config(entry_script="nope.py"), [file_input()], PipelineData("out"))


def test_a_parallel_run_step_is_a_plan_a_mapped_mini_batch_task_and_the_step_task(folder):
    from amlflow.factory.dag_builder import build_dag
    from amlflow.operators.parallel_run import ParallelRunGatherOperator

    ws = Workspace()
    cluster = ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=4))
    processes = PipelineParameter(name="process_count_param", default_value=2)
    step = ParallelRunStep(
        "predict",
        config(compute_target=cluster, process_count_per_node=processes, mini_batch_size="5"),
        [file_input()],
        PipelineData("inferences"),
        arguments=["--model_name", "mnist"],
    )
    dag = build_dag(Pipeline(ws, [step]), "prs_shape")
    assert sorted(dag.task_ids) == ["predict", "predict.mini_batch", "predict.plan"]
    mapped = dag.get_task("predict.mini_batch")
    assert mapped.max_active_tis_per_dagrun == 4  # node_count 2 x the parameter's default 2
    assert mapped.pool == "cpu-cluster" and mapped.queue == "cpu-cluster"
    assert dag.get_task("predict.plan").downstream_task_ids == {"predict.mini_batch"}
    gather = dag.get_task("predict")
    assert isinstance(gather, ParallelRunGatherOperator) and gather.trigger_rule == "none_failed"
    assert gather.parallel_config["process_count_per_node"] == "{{ params['process_count_param'] }}"
    assert dag.params["process_count_param"] == 2


def test_a_step_after_a_parallel_run_step_waits_for_its_step_task(folder):
    from amlflow.factory.dag_builder import build_dag
    from amlflow.pipeline.steps import PythonScriptStep

    (folder / "Code" / "report.py").write_text("print('report')\n")
    scores = PipelineData("scores")
    parallel = ParallelRunStep("score", config(), [file_input()], scores)
    report = PythonScriptStep("report.py", name="report", inputs=[scores], source_directory="Code")
    dag = build_dag(Pipeline(Workspace(), [report, parallel]), "prs_chain")
    assert dag.get_task("report").upstream_task_ids == {"score"}
    assert dag.get_task("report").inputs[0]["task_id"] == "score"


def run_driver(tmp_path, script: str, **request):
    (tmp_path / "entry.py").write_text(script)
    body = {
        "entry_script": str(tmp_path / "entry.py"),
        "argv": ["--model", "m1"],
        "index": 3,
        "files": ["a.png", "b.png", "c.png"],
        "partition": None,
        "timeout": 5,
        "max_tries": 3,
        "append_row": True,
        "result": str(tmp_path / "result.json"),
        **request,
    }
    (tmp_path / "request.json").write_text(json.dumps(body))
    done = subprocess.run(
        [sys.executable, "-m", "amlflow.runtime.parallel_driver", str(tmp_path / "request.json")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    result = json.loads((tmp_path / "result.json").read_text()) if done.returncode == 0 else None
    return done, result


def test_the_driver_calls_init_once_and_returns_one_row_per_element(tmp_path):
    script = (
        "import sys\nCALLS = []\n"
        "def init():\n    CALLS.append(sys.argv[1:])\n"
        "def run(batch):\n    return [f'{name}: {CALLS}' for name in batch]\n"
    )
    _done, result = run_driver(tmp_path, script)
    assert result == {
        "succeeded": 3,
        "rows": [f"{name}: [['--model', 'm1']]" for name in ("a.png", "b.png", "c.png")],
        "tries": 1,
    }


def test_the_driver_tries_a_failing_run_again_and_reports_the_last_error(tmp_path):
    script = (
        "TRIES = []\ndef run(batch):\n    TRIES.append(1)\n"
        "    if len(TRIES) < 3:\n        raise ValueError(f'try {len(TRIES)}')\n    return batch[:2]\n"
    )
    _done, result = run_driver(tmp_path, script)
    assert result == {"succeeded": 2, "rows": ["a.png", "b.png"], "tries": 3}
    _done, failed = run_driver(tmp_path, "def run(batch):\n    raise OSError('disk gone')\n", max_tries=2)
    assert failed == {"succeeded": 0, "rows": [], "error": "OSError: disk gone", "tries": 2}


def test_the_driver_stops_a_run_call_past_run_invocation_timeout(tmp_path):
    script = "import time\ndef run(batch):\n    time.sleep(30)\n    return batch\n"
    _done, result = run_driver(tmp_path, script, timeout=0.5, max_tries=1)
    assert result["error"] == "InvocationTimeout: run() took longer than run_invocation_timeout (0.5 s)"


def test_the_driver_gives_the_mini_batch_context_to_a_two_argument_run(tmp_path):
    script = "def run(batch, context):\n    return [f'{context.partition_key_value} {context.minibatch_index}']\n"
    _done, result = run_driver(tmp_path, script, partition={"user": "u1"}, files=["x.wav"])
    assert result["rows"] == ["{'user': 'u1'} 3"]


def test_a_failing_init_ends_the_driver_with_its_traceback(tmp_path):
    done, _result = run_driver(tmp_path, "def init():\n    raise RuntimeError('no model')\ndef run(b):\n    return b\n")
    assert done.returncode == INIT_FAILED
    assert "RuntimeError: no model" in done.stderr


def test_dataframe_rows_are_written_space_separated_without_header(tmp_path):
    import pandas as pd

    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_pickle(tmp_path / "rows.pkl")
    request = {"files": None, "frame": str(tmp_path / "rows.pkl")}
    _done, result = run_driver(tmp_path, "def run(frame):\n    return frame\n", **request)
    assert result["rows"] == ["1 x", "2 y"]


def make_result(index, items, succeeded, error=None):
    return mini_batches.MiniBatchResult(index, f"batch {index}", items, succeeded, [], error)


def test_thresholds_count_items_batches_and_percent_as_azure_ml():
    results = [make_result(0, 10, 10), make_result(1, 10, 0, "ValueError: bad"), make_result(2, 10, 8)]
    assert mini_batches.Thresholds(12, None, None).exceeded(results) == []
    assert mini_batches.Thresholds(11, None, None).exceeded(results) == [
        "12 failed items (files or rows) exceed error_threshold 11"
    ]
    assert mini_batches.Thresholds(-1, 0, None).exceeded(results) == [
        "1 failed mini-batches exceed allowed_failed_count 0"
    ]
    assert mini_batches.Thresholds(-1, None, 30).exceeded(results) == [
        "33.3% of the mini-batches failed, over allowed_failed_percent 30"
    ]
    described = mini_batches.describe_failures(results)
    assert "mini-batch 1 (batch 1): ValueError: bad" in described
    assert "mini-batch 2 (batch 2): run() returned 8 results for 10 items, so 2 count as failed" in described


def test_the_yaml_definition_carries_the_parallel_run_config(folder):
    from amlflow.factory import yaml_writer
    from amlflow.factory.yaml_loader import _parallel_run_config

    env = Environment(name="batch_environment")
    env.environment_variables = {"MODE": "fast"}
    step = ParallelRunStep(
        "score",
        config(environment=env, mini_batch_size=PipelineParameter("batch_size_param", default_value="5")),
        [file_input()],
        PipelineData("out"),
    )
    document = yaml_writer.pipeline_document(Pipeline(Workspace(), [step]), lambda path: "snapshots/abc")
    item = document["steps"][0]
    assert item["kind"] == "ParallelRunStep"
    written = item["parallel_run_config"]
    assert written["mini_batch_size"] == "$param.batch_size_param"
    assert written["source_directory"] == "snapshots/abc"
    assert written["environment"]["environment_variables"] == {"MODE": "fast"}
    back = _parallel_run_config({**written, "mini_batch_size": 5})
    assert (back.entry_script, back.node_count, back.environment.environment_variables) == (
        "score.py",
        2,
        env.environment_variables,
    )
