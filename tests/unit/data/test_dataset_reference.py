"""A registered dataset named in a DAG file: a reference while the file is parsed, the dataset when the step runs."""

from __future__ import annotations

import pytest

from amlflow.core import Dataset, Datastore, Workspace
from amlflow.data import TabularDataset
from amlflow.data.dataset_reference import DatasetReference
from amlflow.exceptions import StepFailedError, UserErrorException
from amlflow.factory import yaml_writer
from amlflow.factory.step_specs import input_specs
from amlflow.pipeline.core import Pipeline, dag_file
from amlflow.pipeline.steps import PythonScriptStep
from amlflow.runtime.dataset_inputs import chosen_dataset


@pytest.fixture
def ws(local_root, tmp_path) -> Workspace:
    (tmp_path / "stores" / "workspaceblobstore" / "t.csv").write_text("a,b\n1,2\n")
    (tmp_path / "train.py").write_text("")
    return Workspace()


@pytest.fixture
def registered(ws) -> TabularDataset:
    table = Dataset.Tabular.from_delimited_files((Datastore(ws, "workspaceblobstore"), "t.csv"))
    return table.register(ws, "table")


def test_a_dag_file_gets_a_reference_that_reads_nothing(ws, registered, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "nowhere"))  # no registry here
    with dag_file():
        found = Dataset.get_by_name(ws, "table")
    assert isinstance(found, DatasetReference) and found.name == "table"
    with pytest.raises(UserErrorException, match="to_pandas_dataframe is not available while Airflow parses"):
        found.to_pandas_dataframe()


def test_the_step_reads_the_latest_version_when_it_runs(ws, registered, tmp_path):
    with dag_file():
        step = PythonScriptStep(
            "train.py", inputs=[Dataset.get_by_name(ws, "table").as_named_input("t")], source_directory=str(tmp_path)
        )
    [spec] = input_specs(step)
    assert spec["dataset"]["definition"] == {"type": "Registered", "reference": {"name": "table", "version": "latest"}}
    newer = Dataset.Tabular.from_delimited_files((Datastore(ws, "workspaceblobstore"), "t.csv"), separator=";")
    newer.register(ws, "table", create_new_version=True)
    dataset = chosen_dataset(spec, conf={})
    assert (dataset.name, dataset.version) == ("table", 2)


def test_a_reference_mounted_fails_at_task_start_when_it_is_a_tabular_dataset(ws, registered, tmp_path):
    with dag_file():
        mounted = Dataset.get_by_name(ws, "table", version=1).as_mount()
    step = PythonScriptStep("train.py", inputs=[mounted], source_directory=str(tmp_path))
    [spec] = input_specs(step)
    with pytest.raises(StepFailedError, match="'table' is a TabularDataset, which can not be given in mount mode"):
        chosen_dataset(spec, conf={})


def test_a_reference_travels_in_yaml_as_itself(ws, registered, tmp_path):
    with dag_file():
        step = PythonScriptStep(
            "train.py", inputs=[Dataset.get_by_name(ws, "table").as_named_input("t")], source_directory=str(tmp_path)
        )
    document = yaml_writer.pipeline_document(Pipeline(ws, [step]), lambda folder: folder)
    assert document["datasets"]["t"]["dataset"]["definition"]["reference"] == {"name": "table", "version": "latest"}
