"""DataPath parameters: ``(PipelineParameter(default=DataPath), DataPathComputeBinding)`` as a step input."""

from __future__ import annotations

import pytest

from amlflow.core import Workspace
from amlflow.core.datastore import Datastore
from amlflow.data.datapath import DataPath, DataPathComputeBinding
from amlflow.exceptions import UserErrorException
from amlflow.factory import yaml_writer
from amlflow.factory.step_specs import argument_specs, input_specs
from amlflow.pipeline.core import Pipeline, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep


@pytest.fixture
def datapath_step(tmp_path):
    (tmp_path / "train.py").write_text("")
    store = Datastore(Workspace(), "workspaceblobstore")
    param = PipelineParameter("input_datapath", DataPath(store, "sample_datapath1"))
    given = (param, DataPathComputeBinding(mode="download", path_on_compute="data"))
    return PythonScriptStep("train.py", arguments=["--arg2", given], inputs=[given], source_directory=str(tmp_path))


def test_a_datapath_input_is_the_input_its_parameter_names_and_runs_may_repoint(datapath_step):
    [spec] = input_specs(datapath_step)
    assert spec["name"] == "input_datapath"
    assert (spec["kind"], spec["datastore"]) == ("DataReference", "workspaceblobstore")
    assert spec["path"] == "sample_datapath1"
    assert (spec["mode"], spec["path_on_compute"]) == ("download", "data")
    assert argument_specs(datapath_step) == ["--arg2", {"input": "input_datapath"}]
    assert Pipeline(Workspace(), [datapath_step]).data_path_inputs() == {"input_datapath"}


def test_a_datapath_input_travels_to_the_deployment_as_a_data_reference_of_its_name(datapath_step):
    document = yaml_writer.pipeline_document(Pipeline(Workspace(), [datapath_step]), lambda folder: folder)
    assert document["data_references"] == {
        "input_datapath": {
            "datastore": "workspaceblobstore",
            "path_on_datastore": "sample_datapath1",
            "mode": "download",
            "path_on_compute": "data",
        }
    }
    assert document["steps"][0]["inputs"] == ["$data.input_datapath"]


def test_a_datapath_binding_needs_a_parameter_whose_default_is_a_datapath(tmp_path):
    (tmp_path / "train.py").write_text("")
    given = (PipelineParameter("input_datapath", "sample_datapath1"), DataPathComputeBinding())
    with pytest.raises(UserErrorException, match="'input_datapath' is bound with a DataPathComputeBinding"):
        PythonScriptStep("train.py", inputs=[given], source_directory=str(tmp_path))


def test_a_datapath_parameter_passed_bare_says_how_to_bind_it(tmp_path):
    (tmp_path / "train.py").write_text("")
    param = PipelineParameter("input_datapath", DataPath(Datastore(Workspace(), "workspaceblobstore"), "x"))
    step = PythonScriptStep("train.py", arguments=[param], source_directory=str(tmp_path))
    [error] = Pipeline(Workspace(), [step]).validate()
    assert "(parameter, DataPathComputeBinding(mode=...))" in error


def test_a_binding_mode_azure_ml_does_not_know_is_refused():
    with pytest.raises(UserErrorException, match="mode 'upload' is not one of mount, download"):
        DataPathComputeBinding(mode="upload")
