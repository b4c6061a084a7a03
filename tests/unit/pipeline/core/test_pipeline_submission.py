"""The AML submission body, checked against the pipeline as the api-server sees it (its serialized DAG)."""

from __future__ import annotations

import json

import pytest

from amlflow.api.entities import data_reference_inputs, run_status_code, step_status_code
from amlflow.api.submission import SubmissionError, parse, to_conf
from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter, dag_file
from amlflow.pipeline.steps import PythonScriptStep
from tests.conftest import local_datastores


@pytest.fixture(scope="module")
def serialized_dag(tmp_path_factory):
    """A published pipeline with one parameter of each type and a DataReference input, as the api-server loads it."""
    from airflow.serialization.serialized_objects import DagSerialization

    folder = tmp_path_factory.mktemp("steps")
    (folder / "step.py").write_text("print('hi')\n")
    ws = Workspace()
    local_datastores("archive")
    store = Datastore(ws, "workspaceblobstore")
    raw = DataReference(store, data_reference_name="raw", path_on_datastore="in/data.csv")
    out = PipelineData("out", datastore=Datastore(ws, "archive"))
    params = [
        PipelineParameter("count", 10),
        PipelineParameter("rate", 0.5),
        PipelineParameter("flag", False),
        PipelineParameter("label", "a"),
    ]
    step = PythonScriptStep(
        script_name="step.py",
        arguments=["--in", raw, "--out", out, *params],
        inputs=[raw],
        outputs=[out],
        source_directory=str(folder),
    )
    with dag_file():
        dag = Pipeline(ws, [step]).publish(name="Submit_Rules").dag
    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def conf_of(body: dict, dag) -> dict:
    return to_conf(parse(json.dumps(body).encode()), dag)


def error_of(body: dict | bytes, dag) -> str:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(SubmissionError) as caught:
        to_conf(parse(raw), dag)
    return str(caught.value)


def test_the_api_server_sees_the_data_reference_inputs_in_the_serialized_dag(serialized_dag):
    assert data_reference_inputs(serialized_dag) == {
        "raw": {
            "name": "raw",
            "kind": "DataReference",
            "datastore": "workspaceblobstore",
            "path": "in/data.csv",
            "mode": "mount",
            "path_on_compute": None,
            "overwrite": False,
        }
    }


def test_a_submission_becomes_parameter_values_and_the_amlflow_section(serialized_dag):
    conf = conf_of(
        {
            "ExperimentName": "My_Pipeline",
            "ParameterAssignments": {"count": 20, "label": "b"},
            "DataPathAssignments": {"raw": {"DataStoreName": "archive", "RelativePath": "v2/data.csv"}},
            "Description": "nightly",
            "tags": {"team": "ml"},
            "Properties": {"p": "1"},
            "RunSource": "SDK",
            "RunType": "HTTP",
            "ContinueRunOnStepFailure": True,
            "EnableNotification": False,
        },
        serialized_dag,
    )
    assert conf == {
        "count": 20,
        "label": "b",
        "amlflow": {
            "experiment_name": "My_Pipeline",
            "data_paths": {"raw": {"datastore": "archive", "path": "v2/data.csv"}},
            "description": "nightly",
            "run_source": "SDK",
            "run_type": "HTTP",
            "tags": {"team": "ml"},
            "properties": {"p": "1"},
        },
    }


def test_string_values_are_read_as_the_parameter_type_as_azure_ml_does(serialized_dag):
    conf = conf_of(
        {"ExperimentName": "e", "ParameterAssignments": {"count": "20", "rate": "1e-3", "flag": "True", "label": "7"}},
        serialized_dag,
    )
    assert (conf["count"], conf["rate"], conf["flag"], conf["label"]) == (20, 0.001, True, "7")
    # Unparseable text is passed on unchanged, for Airflow's Param validation to reject with its message.
    assert (
        conf_of({"ExperimentName": "e", "ParameterAssignments": {"count": "2.5x"}}, serialized_dag)["count"] == "2.5x"
    )


def test_regenerate_outputs_becomes_the_conf_flag_the_steps_read(serialized_dag):
    from amlflow.runtime.reuse import REGENERATE_CONF_KEY, regenerate_requested

    conf = conf_of({"ExperimentName": "e", "RegenerateOutputs": True}, serialized_dag)
    assert conf[REGENERATE_CONF_KEY] is True and regenerate_requested(conf)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body: not valid JSON"),
        (b"[1, 2]", "body: must be a JSON object"),
        ({"ParameterAssignments": {}}, "ExperimentName: Field required"),
        (
            {"ExperimentName": "e", "ParameterAssignments": [1]},
            "ParameterAssignments: Input should be a valid dictionary",
        ),
        ({"ExperimentName": "e", "Experiment": "x"}, "Experiment: unknown field"),
        ({"ExperimentName": "e", "tags": {"a": 1}}, "tags.a: Input should be a valid string"),
        ({"ExperimentName": "bad name!"}, "ExperimentName: 'bad name!' is not a valid experiment name"),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"cnt": 1}},
            "ParameterAssignments.cnt: pipeline 'Submit_Rules' has no parameter 'cnt' "
            "(its parameters: count, flag, label, rate)",
        ),
        (
            {"ExperimentName": "e", "DataPathAssignments": {"out": {"DataStoreName": "s", "RelativePath": "p"}}},
            "DataPathAssignments.out: 'out' is not a DataReference input of pipeline 'Submit_Rules' "
            "(its DataReference inputs: raw)",
        ),
        (
            {
                "ExperimentName": "e",
                "DataPathAssignments": {"raw": {"DataStoreName": "archive", "RelativePath": "../x"}},
            },
            "DataPathAssignments.raw.RelativePath: '../x' must be a path inside the datastore",
        ),
        (
            {
                "ExperimentName": "e",
                "DataPathAssignments": {"raw": {"DataStoreName": "/etc", "RelativePath": "passwd"}},
            },
            "DataPathAssignments.raw.DataStoreName: '/etc' is not a datastore name",
        ),
        (
            {
                "ExperimentName": "e",
                "DataPathAssignments": {"raw": {"DataStoreName": "../../../../etc", "RelativePath": "passwd"}},
            },
            "DataPathAssignments.raw.DataStoreName: '../../../../etc' is not a datastore name",
        ),
        (
            {"ExperimentName": "e", "DataPathAssignments": {"raw": {"DataStoreName": "other", "RelativePath": "x"}}},
            "DataPathAssignments.raw.DataStoreName: pipeline 'Submit_Rules' does not use datastore 'other'; "
            "a run may read only the datastores the pipeline declares (archive, workspaceblobstore)",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"count": 10**30}},
            "ParameterAssignments.count: integer 1000000000...(31 characters) is outside the range a run can carry",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"label": "x" * 1_000_000}},
            "ParameterAssignments.label: a string of 1,000,000 characters is longer than the 16,384 a run can carry",
        ),
        (
            {"ExperimentName": "e", "ParameterAssignments": {"label": "a\x00b"}},
            "ParameterAssignments.label: a string must not contain the NUL character",
        ),
        (b"[" * 100_000, "body: nested deeper than 32 levels"),
        ({"ExperimentName": "e", "ParameterAssignments": {"label": _nested(40)}}, "ParameterAssignments.label: nested"),
        (
            {"ExperimentName": "e", "DataPathAssignments": {"raw": {"RelativePath": "x"}}},
            "DataPathAssignments.raw.DataStoreName: Field required",
        ),
        (
            {"ExperimentName": "e", "DataSetDefinitionValueAssignments": {"ds": {"SavedDataSetReference": {"Id": 1}}}},
            "DataSetDefinitionValueAssignments.ds: pipeline 'Submit_Rules' has no dataset parameter 'ds'",
        ),
        (
            {"ExperimentName": "e", "ContinueRunOnStepFailure": False},
            "ContinueRunOnStepFailure: amlflow always lets steps that do not depend on a failed step finish",
        ),
    ],
)
def test_a_bad_submission_is_refused_naming_the_field(serialized_dag, body, message):
    assert error_of(body, serialized_dag).startswith(message)


def test_airflow_states_map_to_azure_ml_statuses():
    assert [run_status_code(s, {}) for s in ("queued", "running", "success", "failed")] == [
        "NotStarted",
        "Running",
        "Finished",
        "Failed",
    ]
    # A run stopped through the endpoint is failed in Airflow and Canceled in Azure ML terms.
    assert run_status_code("failed", {"amlflow": {"canceled": {"by": "admin"}}}) == "Canceled"
    # A run can end "success" in Airflow with a failed step (fail_fast set by hand, steps marked in the UI).
    assert run_status_code("success", {}, ["train.py"]) == "Failed"
    assert [step_status_code(s) for s in (None, "queued", "running", "success", "failed", "upstream_failed")] == [
        "NotStarted",
        "Queued",
        "Running",
        "Finished",
        "Failed",
        "Canceled",
    ]


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"amlflow": {"data_paths": {"raw": {"datastore": "/etc", "path": "passwd"}}}}, "'/etc' is not one of"),
        ({"amlflow": {"data_paths": {"raw": {"datastore": "../../etc", "path": "x"}}}}, "is not one of"),
        ({"amlflow": {"data_paths": {"raw": {"datastore": "archive", "path": "../x"}}}}, "does not match"),
        ({"amlflow": {"data_paths": {"out": {"datastore": "archive", "path": "x"}}}}, "'out' is not one of ['raw']"),
        ({"count": 10**30}, "is greater than the maximum of 9007199254740991"),
        ({"rate": -1e300}, "is less than the minimum of -9007199254740991"),
        ({"label": "x" * 20_000}, "is too long"),
        ({"label": "a\x00b"}, "does not match"),
    ],
)
def test_airflow_refuses_what_a_run_can_not_carry_on_every_route(serialized_dag, conf, message):
    """The same limits are the DAG's Param schemas: Airflow checks them when it creates any run (REST, UI)."""
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError, match="Invalid input for param") as caught:
        serialized_dag.params.deep_merge(conf).validate()
    assert message in str(caught.value)


def test_a_good_conf_passes_airflows_check(serialized_dag):
    conf = {"count": 3, "amlflow": {"data_paths": {"raw": {"datastore": "archive", "path": "v2/x.csv"}}}}
    assert serialized_dag.params.deep_merge(conf).validate()["count"] == 3
