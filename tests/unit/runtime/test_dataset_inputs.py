"""What a step's script receives for a dataset input: a path (mount, download) or the dataset itself (direct)."""

from __future__ import annotations

import json
import os

import pytest

from amlflow.core import Dataset, Datastore, Run, Workspace
from amlflow.core.run import INPUT_DATASETS_ENV, METRICS_FILE_ENV
from amlflow.data import dataset_registry
from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.exceptions import StepFailedError
from amlflow.factory.step_specs import dataset_input_spec
from amlflow.pipeline.core import PipelineParameter
from amlflow.runtime.dataset_inputs import chosen_dataset, dataset_content, dataset_environment, stage_dataset


@pytest.fixture
def store(local_root, tmp_path) -> Datastore:
    data = tmp_path / "stores" / "workspaceblobstore" / "data"
    (data / "part").mkdir(parents=True)
    (data / "part" / "a.csv").write_text("x,y\n1,2\n")
    (data / "part" / "b.csv").write_text("x,y\n3,4\n")
    return Datastore(Workspace(), "workspaceblobstore")


def _staged(consumption: DatasetConsumptionConfig, workdir: str):
    spec = dataset_input_spec(consumption.name, consumption)
    return stage_dataset(spec, chosen_dataset(spec, conf={}), workdir)


def test_download_gives_the_folder_of_the_files_and_mount_the_file_of_a_one_file_dataset(store, tmp_path):
    folder = _staged(Dataset.File.from_files((store, "data/part")).as_named_input("d").as_download(), str(tmp_path))
    assert sorted(os.listdir(folder.argument)) == ["a.csv", "b.csv"] and folder.entry == {"path": folder.argument}
    single = _staged(Dataset.File.from_files((store, "data/part/a.csv")).as_named_input("f").as_mount(), str(tmp_path))
    with open(single.argument) as handle:
        assert handle.read() == "x,y\n1,2\n"


def test_a_direct_dataset_reaches_the_script_as_a_dataset_whose_files_the_task_fetched(store, tmp_path, monkeypatch):
    table = Dataset.Tabular.from_delimited_files((store, "data/part/*.csv"))
    staged = _staged(table.as_named_input("t"), str(tmp_path / "work"))
    environment = dataset_environment({"t": staged})
    # The script's side: a step run (its metrics file set), the variable the task gave it, no datastore.
    monkeypatch.setenv(METRICS_FILE_ENV, str(tmp_path / "metrics.jsonl"))
    monkeypatch.setenv(INPUT_DATASETS_ENV, environment[INPUT_DATASETS_ENV])
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "gone"))
    frame = Run.get_context().input_datasets["t"].to_pandas_dataframe()
    assert frame["x"].tolist() == [1, 3]
    assert all(
        "local" in source for source in json.loads(environment[INPUT_DATASETS_ENV])["t"]["definition"]["sources"]
    )


def test_a_run_may_give_a_dataset_parameter_a_saved_dataset(store, tmp_path):
    default = Dataset.File.from_files((store, "data/part/a.csv"))
    other = Dataset.File.from_files((store, "data/part/b.csv"))
    consumption = DatasetConsumptionConfig("d", PipelineParameter("ds", default)).as_mount()
    spec = dataset_input_spec("d", consumption)
    conf = {"amlflow": {"datasets": {"ds": {"id": other._ensure_saved(None)}}}}
    assert chosen_dataset(spec, conf, allowed=["workspaceblobstore"]).definition == other.definition
    assert chosen_dataset(spec, conf={}).definition == default.definition


def test_a_dataset_given_to_a_run_may_read_only_the_pipelines_datastores_and_no_local_file(store, tmp_path):
    spec = dataset_input_spec("d", DatasetConsumptionConfig("d", PipelineParameter("ds", Dataset.File.from_files(
        (store, "data/part/a.csv")))).as_mount())  # fmt: skip
    other_team = {"type": "File", "sources": [{"datastore": "team_b", "path": "secrets"}], "transforms": []}
    worker_file = {"type": "File", "sources": [{"local": "/etc/passwd"}], "transforms": []}
    for definition, refusal in ((other_team, "reads datastore 'team_b'"), (worker_file, "files of the worker")):
        saved = dataset_registry.save_definition(definition)
        conf = {"amlflow": {"datasets": {"ds": {"id": saved}}}}
        with pytest.raises(StepFailedError, match=refusal):
            chosen_dataset(spec, conf, allowed=["workspaceblobstore"])


def test_what_a_dataset_holds_changes_its_content_fingerprint(store, tmp_path):
    dataset = Dataset.File.from_files((store, "data/part/*.csv"))
    before = dataset_content(dataset)
    assert dataset_content(dataset) == before
    (tmp_path / "stores" / "workspaceblobstore" / "data" / "part" / "c.csv").write_text("x,y\n5,6\n")
    assert dataset_content(dataset) != before
