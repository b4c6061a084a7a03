"""What a dataset may not be: a worker's file, credentials in a URL, an output over amlflow's own state."""

from __future__ import annotations

import pytest

from amlflow.core import Dataset
from amlflow.data import OutputFileDatasetConfig
from amlflow.data.abstract_dataset import dataset_from_definition
from amlflow.exceptions import StepFailedError, UserErrorException
from amlflow.factory.step_specs import output_spec
from amlflow.pipeline.core import dag_file
from amlflow.runtime.outputs import StagedOutputs
from tests.unit.conftest import put


@pytest.mark.parametrize(
    "url, refusal",
    [
        ("file:///etc/passwd", "is not an http\\(s\\) URL"),
        ("ftp://host/x.csv", "is not an http\\(s\\) URL"),
        ("https://user:secret@host/x.csv", "may not hold credentials"),
        ("https://host.dfs.core.windows.net/c/x.csv?sv=1&sig=abc", "may not hold credentials"),
    ],
)
def test_a_definition_may_name_only_plain_http_urls(url, refusal):
    with pytest.raises(UserErrorException, match=refusal):
        dataset_from_definition({"type": "File", "sources": [{"url": url}], "transforms": []})


@pytest.mark.parametrize("path", [".", "a/../b", "amlflow/other/run", "amlflow-datasets/by-name", ".amlflow-staging/x"])
def test_an_output_dataset_may_not_be_committed_over_amlflows_state_or_the_whole_datastore(store, path):
    with pytest.raises(UserErrorException, match="destination path"):
        OutputFileDatasetConfig("out", destination=(store, path))


def test_registering_on_complete_needs_a_name_as_in_azure_ml():
    with pytest.raises(ValueError, match=r"The registration name of the dataset must not be empty\."):
        OutputFileDatasetConfig("out").register_on_complete("")


def test_nothing_a_dag_file_runs_while_parsed_reaches_the_registry_or_the_files(root, store):
    put(root, "data/a.csv", "x\n1\n")
    dataset = Dataset.File.from_files((store, "data/a.csv"))
    with dag_file():
        with pytest.raises(UserErrorException, match="Can not register a dataset while Airflow parses a DAG file"):
            dataset.register(None, "in_a_parse")
        with pytest.raises(UserErrorException, match="Can not read a dataset's files while Airflow parses"):
            dataset.to_path()
    assert not (root / "amlflow-datasets").exists()


def test_an_upload_that_may_not_overwrite_fails_before_the_script_when_the_destination_holds_files(root, store):
    put(root, "results/old.txt", "kept")
    output = OutputFileDatasetConfig("out", destination=(store, "results")).as_upload(overwrite=False)
    spec = output_spec(output.pipeline_data, "workspaceblobstore")
    with pytest.raises(StepFailedError, match="holds files already and the output is as_upload\\(overwrite=False\\)"):
        StagedOutputs([spec], "dag", "run", "step")
    assert (root / "results" / "old.txt").read_text() == "kept"
