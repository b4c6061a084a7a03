"""AdlaStep and DataTransferStep definitions: Azure ML's parameters and rules, what the DAG's operators get,
and that a DAG file attaching their computes parses with no network and no database."""

from __future__ import annotations

import textwrap

import pytest

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import AdlaCompute, AmlCompute, ComputeTarget, DataFactoryCompute
from amlflow.data.data_reference import DataReference
from amlflow.exceptions import ComputeTargetException, UserErrorException
from amlflow.operators.adla import substitute
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import AdlaStep, DataTransferStep
from tests.conftest import local_datastores
from tests.pipelines import parse_offline


@pytest.fixture
def ws() -> Workspace:
    local_datastores("lake", "src", "dst")
    return Workspace()


@pytest.fixture
def scripts(tmp_path) -> str:
    (tmp_path / "job.usql").write_text('OUTPUT @x TO "@@out@@/x.csv";\n')
    return str(tmp_path)


def adla_errors(ws: Workspace, scripts: str, **kwargs) -> list[str]:
    arguments = {"script_name": "job.usql", "compute_target": "adla", "source_directory": scripts, **kwargs}
    return Pipeline(ws, [AdlaStep(**arguments)]).validate()


def test_adla_step_takes_azure_ml_defaults(ws, scripts):
    step = AdlaStep("job.usql", compute_target="adla", source_directory=scripts, degree_of_parallelism=-3)
    assert step.name == "job.usql"
    assert (step.degree_of_parallelism, step.priority, step.runtime_version) == (1, 1000, None)
    assert adla_errors(ws, scripts) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"script_name": "missing.usql"}, "field 'script_name': script not found at "),
        (
            {"compute_target": ("cpu", "AmlCompute")},
            "field 'compute_target': AmlCompute(name='cpu') is not an AdlaCompute",
        ),
        ({"priority": 0}, "field 'priority': must be an integer greater than 0 (lower runs first), got 0"),
        ({"degree_of_parallelism": "4"}, "field 'degree_of_parallelism': must be an integer, got '4'"),
        (
            {"outputs": [PipelineData("out")], "params": {"out": 1}},
            "field 'params': 'out' is also an input or output name: @@out@@ would be ambiguous",
        ),
    ],
)
def test_adla_step_rules_name_the_step_and_the_field(ws, scripts, kwargs, expected):
    errors = adla_errors(ws, scripts, name="usql", **kwargs)
    assert len(errors) == 1 and errors[0].startswith("step 'usql', ") and expected in errors[0], errors


def test_adla_step_needs_a_compute_target(scripts):
    with pytest.raises(UserErrorException, match=r"AdlaStep 'job\.usql': compute_target is required"):
        AdlaStep("job.usql", source_directory=scripts)


def test_adla_attach_records_the_account_and_the_operator_gets_it(ws, scripts):
    config = AdlaCompute.attach_configuration(
        resource_id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataLakeAnalytics/accounts/myadla"
    )
    adla = ComputeTarget.attach(ws, "adla-compute", config)
    assert (adla.account_name, adla.resource_group, adla.type) == ("myadla", "rg", "DataLakeAnalytics")
    assert ws.compute_targets["adla-compute"] is adla
    with pytest.raises(ComputeTargetException, match="account_name or resource_id is required"):
        AdlaCompute.attach_configuration("rg")

    raw = DataReference(Datastore(ws, "lake"), data_reference_name="raw", path_on_datastore="in")
    out = PipelineData("out")
    step = AdlaStep(
        "job.usql",
        name="usql",
        inputs=[raw],
        outputs=[out],
        params={"limit": PipelineParameter("limit", default_value=5), "mode": "fast"},
        priority=10,
        runtime_version="rt1",
        compute_target=adla,
        source_directory=scripts,
    )
    task = Pipeline(ws, [step]).as_dag("adla_dag").get_task("usql")
    assert (task.adla_conn_id, task.account_name, task.priority, task.runtime_version) == (
        "adla-compute",
        "myadla",
        10,
        "rt1",
    )
    assert task.step_params == {"limit": "{{ params['limit'] }}", "mode": "fast"}
    assert [s["name"] for s in task.inputs] == ["raw"] and [s["name"] for s in task.outputs] == ["out"]
    assert not task.pool or task.pool == "default_pool"  # a waiting ADLA job holds no slot of a compute pool


def test_substitution_replaces_ports_and_params_and_reports_the_rest():
    script, unknown = substitute(
        'FROM "@@in@@" WHERE x > @@limit@@ AND y = "@@nope@@" -- @@in@@', {"in": "wasbs://c@a/in", "limit": "5"}
    )
    assert script == 'FROM "wasbs://c@a/in" WHERE x > 5 AND y = "@@nope@@" -- wasbs://c@a/in'
    assert unknown == ["nope"]


def transfer(ws: Workspace, **kwargs) -> DataTransferStep:
    arguments = {
        "name": "copy",
        "source_data_reference": DataReference(Datastore(ws, "src"), path_on_datastore="a"),
        "destination_data_reference": DataReference(Datastore(ws, "dst"), path_on_datastore="b"),
        "compute_target": "adf",
        **kwargs,
    }
    return DataTransferStep(**arguments)


def test_data_transfer_output_is_pipeline_data_on_the_destination_datastore(ws):
    step = transfer(ws, source_reference_type="Directory")
    output = step.get_output()
    assert isinstance(output, PipelineData)
    assert (output.name, output.datastore.name) == ("_data_transfer_output", "dst")
    assert step.source_reference_type == "directory"
    assert Pipeline(ws, [step]).validate() == []
    task = Pipeline(ws, [step]).as_dag("transfer_dag").get_task("copy")
    assert task.destination == {"datastore": "dst", "path": "b", "overwrite": False}
    assert task.inputs[0]["datastore"] == "src" and task.inputs[0]["path"] == "a"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"source_reference_type": "folder"}, "field 'source_reference_type': 'folder' is not 'file' or 'directory'"),
        (
            {"source_reference_type": "directory", "destination_reference_type": "file"},
            "field 'destination_reference_type': a directory cannot be copied to a file",
        ),
        ({"compute_target": ("cpu", "AmlCompute")}, "field 'compute_target': AmlCompute(name='cpu') is not a Data"),
    ],
)
def test_data_transfer_rules_name_the_step_and_the_field(ws, kwargs, expected):
    errors = Pipeline(ws, [transfer(ws, **kwargs)]).validate()
    assert len(errors) == 1 and errors[0].startswith("step 'copy', ") and expected in errors[0], errors


@pytest.mark.parametrize("missing", ["source_data_reference", "destination_data_reference", "compute_target"])
def test_data_transfer_requires_what_azure_ml_requires(ws, missing):
    with pytest.raises(UserErrorException, match=f"DataTransferStep 'copy': {missing} is required"):
        transfer(ws, **{missing: None})


def test_data_factory_compute_is_created_or_attached_without_provisioning(ws):
    created = ComputeTarget.create(ws, "adf", DataFactoryCompute.provisioning_configuration())
    attached = ComputeTarget.attach(ws, "adf2", DataFactoryCompute.attach_configuration("rg", "factory"))
    assert (created.type, created.task_placement()) == ("DataFactory", {})
    assert (attached.factory_name, attached.resource_group) == ("factory", "rg")
    assert not isinstance(created, AmlCompute)


def test_parsing_a_file_that_attaches_adla_and_data_factory_touches_no_network_and_no_database(tmp_path):
    (tmp_path / "job.usql").write_text("OUTPUT @x TO @@out@@;\n")
    dag_file = tmp_path / "adla_transfer_dag.py"
    dag_file.write_text(
        textwrap.dedent(
            """
            from amlflow.core import Datastore, Workspace
            from amlflow.core.compute import AdlaCompute, ComputeTarget, DataFactoryCompute
            from amlflow.data.data_reference import DataReference
            from amlflow.pipeline.core import Pipeline, PipelineData
            from amlflow.pipeline.steps import AdlaStep, DataTransferStep

            ws = Workspace()
            adla = ComputeTarget.attach(ws, "adla", AdlaCompute.attach_configuration("rg", "account"))
            adf = ComputeTarget.attach(ws, "adf", DataFactoryCompute.attach_configuration("rg", "factory"))
            out = PipelineData("out")
            usql = AdlaStep("job.usql", outputs=[out], compute_target=adla)
            lake = DataReference(Datastore(ws, "lake"), path_on_datastore="x")
            copy = DataTransferStep("copy", source_data_reference=out, destination_data_reference=lake,
                                    compute_target=adf)
            Pipeline(ws, [copy]).publish(name="adla_then_copy")
            """
        )
    )
    assert parse_offline(str(dag_file)) == {"adla_then_copy": ["copy", "job.usql"]}
