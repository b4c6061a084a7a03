"""Pipeline.validate() and publish(): each broken rule is reported naming the step and the field."""

from __future__ import annotations

import pytest

from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.exceptions import PipelineValidationError
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter, dag_file
from amlflow.pipeline.steps import PythonScriptStep
from tests.conftest import local_datastores


@pytest.fixture
def ws() -> Workspace:
    local_datastores("store")
    return Workspace()


@pytest.fixture
def scripts(tmp_path):
    for name in ("a.py", "b.py", "c.py"):
        (tmp_path / name).write_text("print('ok')\n")
    return str(tmp_path)


def step(scripts, script, **kwargs) -> PythonScriptStep:
    return PythonScriptStep(script_name=script, source_directory=scripts, **kwargs)


def only_error(pipeline: Pipeline) -> str:
    errors = pipeline.validate()
    assert len(errors) == 1, errors
    return errors[0]


def test_a_valid_pipeline_has_no_errors_and_publishes(ws, scripts):
    data = PipelineData("data")
    first = step(scripts, "a.py", arguments=["--out", data], outputs=[data])
    second = step(scripts, "b.py", arguments=["--in", data], inputs=[data])
    pipeline = Pipeline(ws, [second])
    assert pipeline.validate() == []
    assert [s.name for s in pipeline.steps] == ["b.py", "a.py"]
    assert pipeline.edges() == [("a.py", "b.py")]
    assert first in pipeline.steps


def test_a_cycle_is_reported_with_its_path(ws, scripts):
    x, y = PipelineData("x"), PipelineData("y")
    a = step(scripts, "a.py", inputs=[y], outputs=[x])
    b = step(scripts, "b.py", inputs=[x], outputs=[y])
    assert only_error(Pipeline(ws, [a, b])) == (
        "step 'a.py', field 'inputs': the pipeline has a cycle: a.py -> b.py -> a.py"
    )


def test_run_after_cycle_is_a_cycle_too(ws, scripts):
    a, b = step(scripts, "a.py"), step(scripts, "b.py")
    a.run_after(b)
    b.run_after(a)
    assert "cycle" in only_error(Pipeline(ws, [a]))


def test_two_steps_with_one_name(ws, scripts):
    a = step(scripts, "a.py", name="train")
    b = step(scripts, "b.py", name="train")
    assert only_error(Pipeline(ws, [a, b])) == (
        "step 'train', field 'name': two steps have this name; step names must be unique in a pipeline"
    )


def test_pipeline_data_consumed_but_never_produced(ws, scripts):
    orphan = PipelineData("orphan")
    b = step(scripts, "b.py", arguments=[orphan], inputs=[orphan])
    assert only_error(Pipeline(ws, [b])) == (
        "step 'b.py', field 'inputs': PipelineData 'orphan' is consumed but no step of the pipeline produces it"
    )


def test_pipeline_data_produced_twice(ws, scripts):
    data = PipelineData("data")
    a = step(scripts, "a.py", outputs=[data])
    b = step(scripts, "b.py", outputs=[data])
    assert only_error(Pipeline(ws, [a, b])) == (
        "step 'b.py', field 'outputs': PipelineData 'data' is already an output of step 'a.py'"
    )


def test_data_in_arguments_must_be_in_inputs_or_outputs(ws, scripts):
    data = PipelineData("data")
    ref = DataReference(Datastore(ws, "store"), data_reference_name="raw", path_on_datastore="raw/x.csv")
    a = step(scripts, "a.py", arguments=["--out", data, "--in", ref])
    errors = Pipeline(ws, [a]).validate()
    assert errors == [
        "step 'a.py', field 'arguments': PipelineData 'data' appears in arguments but is not in inputs or outputs",
        "step 'a.py', field 'arguments': input 'raw' appears in arguments but is not in inputs",
    ]


def test_missing_script_file(ws, scripts):
    error = only_error(Pipeline(ws, [step(scripts, "missing.py")]))
    assert error.startswith("step 'missing.py', field 'script_name': script not found at ")
    assert error.endswith("missing.py")


def test_missing_source_directory(ws, tmp_path):
    s = PythonScriptStep(script_name="a.py", source_directory=str(tmp_path / "nope"))
    assert "field 'source_directory': folder not found" in only_error(Pipeline(ws, [s]))


def test_invalid_step_name(ws, scripts):
    error = only_error(Pipeline(ws, [step(scripts, "a.py", name="train model")]))
    assert error.startswith("step 'train model', field 'name': is invalid")


@pytest.mark.parametrize("bad_default", [[1, 2], {"a": 1}, None, b"bytes"])
def test_parameter_default_of_unsupported_type(ws, scripts, bad_default):
    param = PipelineParameter("p", bad_default)
    error = only_error(Pipeline(ws, [step(scripts, "a.py", arguments=["--p", param])]))
    assert error.startswith("step 'a.py', field 'arguments': PipelineParameter 'p' has a default of unsupported type")


def test_parameter_declared_twice_with_different_defaults(ws, scripts):
    a = step(scripts, "a.py", arguments=[PipelineParameter("p", 1)])
    b = step(scripts, "b.py", arguments=[PipelineParameter("p", 2)])
    assert "declared twice with different defaults (1 and 2)" in only_error(Pipeline(ws, [a, b]))


def test_publish_raises_every_error_at_once_naming_the_file(ws, scripts):
    a = step(scripts, "missing.py", name="x")
    b = step(scripts, "b.py", name="x")
    with pytest.raises(PipelineValidationError) as raised, dag_file():
        Pipeline(ws, [a, b]).publish(name="bad_pipeline")
    assert len(raised.value.errors) == 2
    assert str(raised.value).startswith(__file__)
    assert "field 'script_name'" in str(raised.value) and "field 'name'" in str(raised.value)


def test_publish_rejects_an_invalid_pipeline_name(ws, scripts):
    with pytest.raises(PipelineValidationError, match="pipeline name 'my pipeline' is invalid"), dag_file():
        Pipeline(ws, [step(scripts, "a.py")]).publish(name="my pipeline")


def test_invalid_pipeline_data_name_fails_at_construction():
    with pytest.raises(ValueError, match="PipelineData name 'my-data' is invalid"):
        PipelineData("my-data")


def test_invalid_data_reference_mode():
    with pytest.raises(ValueError, match="mode 'stream' is not one of mount, download, upload"):
        DataReference(Datastore(Workspace(), "workspaceblobstore"), "r", "p", mode="stream")


def test_the_task_runners_parse_skips_the_checks_the_dag_processor_made(ws, scripts, monkeypatch):
    # A task runs only a file version the dag-processor parsed (and checked); its start-up parse skips them.
    bad = step(scripts, "missing.py")
    with pytest.raises(PipelineValidationError, match="field 'script_name'"), dag_file():
        Pipeline(ws, [bad]).publish(name="checked_before")
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "checked_before")  # as Airflow's task runner sets it
    with dag_file():
        published = Pipeline(ws, [bad]).publish(name="checked_before")
    assert published.id == "checked_before"
