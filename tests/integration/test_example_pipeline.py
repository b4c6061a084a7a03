"""The seed's compare-models pipeline, run through Airflow with a non-default parameter."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import DAGS, ROOT
from tests.pipelines import local_output, output_location, run_dag, task_states


@pytest.fixture(scope="module")
def example_run(dags_folder):
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(DAGS, "compare_models"))
    dag_file = shutil.copy(os.path.join(ROOT, "dags", "compare_models.py"), DAGS)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("compare_models/\n")
    subprocess.run([sys.executable, os.path.join(DAGS, "compare_models", "upload_data.py")], check=True)
    return run_dag(dag_file, "Compare_Models", {"pipeline_arg": 1})


def test_every_step_succeeds(example_run):
    assert task_states(example_run) == {
        "train.py": "success",
        "extract.py": "success",
        "compare.py": "success",
    }


def test_parameter_run_value_reaches_the_script_as_argument_and_environment(example_run):
    report_dir = local_output(output_location(example_run, "compare.py", "out_data3"))
    with open(os.path.join(report_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report["pipeline_arg"] == 1
    assert report["pipeline_arg_env"] == "1"
    assert report["ranking"] == ["linear"]  # pipeline_arg=1 ranks one model; the default 10 would rank both


def test_downstream_steps_read_exactly_what_upstream_steps_wrote(example_run):
    models = output_location(example_run, "train.py", "processed_data1")
    scores = output_location(example_run, "extract.py", "processed_data2")
    with open(os.path.join(local_output(output_location(example_run, "compare.py", "out_data3")), "report.json")) as h:
        report = json.load(h)
    assert report["inputs"]["comp_data1"]["path"] == local_output(models)
    assert report["inputs"]["comp_data2"]["path"] == local_output(scores)
    from amlflow.storage import get_backend

    written = get_backend(models.datastore).read_manifest(models.path)
    assert {f["path"]: f["sha256"] for f in written.files} == report["inputs"]["comp_data1"]["files"]


def test_every_output_has_its_manifest_under_a_run_scoped_path(example_run):
    from amlflow.storage import get_backend

    for task_id, key in (
        ("train.py", "processed_data1"),
        ("extract.py", "processed_data2"),
        ("compare.py", "out_data3"),
    ):
        location = output_location(example_run, task_id, key)
        assert location.path.startswith("amlflow/Compare_Models/")
        assert location.path.endswith(f"/{task_id}/{key}")
        manifest = get_backend(location.datastore).read_manifest(location.path)
        assert manifest is not None and manifest.files
        assert manifest.fingerprint == location.fingerprint
