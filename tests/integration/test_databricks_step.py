"""DatabricksStep through Airflow: a pipeline across a Databricks step, against the local Databricks double.

The double plays the cluster. For data on a local datastore it reads and writes the ``file://`` URIs the
step hands to the notebook, as a cluster that mounts this machine's disk would (a real cluster needs a blob
datastore: the operator warns about exactly this).
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import urlsplit

import pytest

from tests.conftest import DAGS
from tests.doubles.databricks import Play
from tests.fixtures.databricks_double import DATABRICKS_CONN_ID
from tests.pipelines import local_output, output_location, run_dag, task_states

HERE = os.path.dirname(os.path.abspath(__file__))


def keep_above(task: dict) -> None:
    """The notebook ``/Shared/keep_above``: read widget ``raw``, keep numbers >= ``threshold`` into ``kept``."""
    widgets = task["notebook_task"]["base_parameters"]
    source, target = urlsplit(widgets["raw"]).path, urlsplit(widgets["kept"]).path
    with open(os.path.join(source, "numbers.txt")) as handle:
        numbers = [int(line) for line in handle if line.strip()]
    os.makedirs(target, exist_ok=True)
    with open(os.path.join(target, "kept.txt"), "w") as handle:
        handle.write("".join(f"{n}\n" for n in numbers if n >= int(widgets["threshold"])))


@pytest.fixture(scope="module")
def pipeline_file(dags_folder, databricks_double) -> str:
    shutil.copytree(os.path.join(HERE, "databricks_pipeline"), os.path.join(DAGS, "databricks_pipeline"))
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("databricks_pipeline/\n")
    return shutil.copy(os.path.join(HERE, "databricks_pipeline.py"), DAGS)


@pytest.fixture(scope="module")
def pipeline_run(pipeline_file, databricks_double):
    databricks_double.play("/Shared/keep_above", Play(running=1.5, notebook_result="kept 3 numbers", work=keep_above))
    os.environ["AML_DATABRICKS_COMPUTE_NAME"] = DATABRICKS_CONN_ID
    try:
        return run_dag(pipeline_file, "databricks_pipeline", {"threshold": 8})
    finally:
        os.environ.pop("AML_DATABRICKS_COMPUTE_NAME")


def test_data_crosses_the_databricks_step_and_the_parameter_reaches_its_notebook(pipeline_run, databricks_double):
    assert task_states(pipeline_run) == {"prepare.py": "success", "keep_above": "success", "report.py": "success"}
    with open(os.path.join(local_output(output_location(pipeline_run, "report.py", "summary")), "report.json")) as h:
        report = json.load(h)
    assert report["kept"] == [8, 9, 10]
    (body,) = databricks_double.submitted("/Shared/keep_above")
    widgets = body["tasks"][0]["notebook_task"]["base_parameters"]
    raw = output_location(pipeline_run, "prepare.py", "raw")
    kept = output_location(pipeline_run, "keep_above", "kept")
    assert widgets == {"raw": raw.uri, "kept": kept.uri, "threshold": "8", "label": "demo"}
    assert report["kept_from"] == local_output(kept)
