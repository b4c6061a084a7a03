"""The seed's notebook route on the real stack: submit, wait, download, publish, trigger over REST.

The seed's code, with ``azureml.`` renamed to ``amlflow.`` and nothing else, runs as its own Python
process from its own folder (``.azureml/config.json`` names the deployment; the Airflow password is in
the environment, as a notebook's would be). Its step scripts are deleted right after ``submit``
returns: the run must still succeed, from the snapshot the submit uploaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from amlflow.bundles import layout
from tests.conftest import ROOT
from tests.fixtures.airflow_stack import PASSWORDS

pytestmark = pytest.mark.integration

#: The seed's code (shared/seed), imports renamed; the lines marked "test:" are the test's own.
SEED = """
import json, os, shutil, sys
import requests
from amlflow.core import Datastore, Experiment, Workspace
from amlflow.core.authentication import AirflowTokenAuthentication
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
def_blob_store = Datastore(ws, "workspaceblobstore")
def_blob_store.upload_files(["./data/20news.csv"], target_path="20newsgroups", overwrite=True)

blob_input_data = DataReference(
    datastore=def_blob_store,
    data_reference_name="test_data",
    path_on_datastore="20newsgroups/20news.csv")
processed_data1 = PipelineData("processed_data1", datastore=def_blob_store)
processed_data2 = PipelineData("processed_data2", datastore=def_blob_store)
out_data3 = PipelineData("out_data3", datastore=def_blob_store)

compute_name = "aml-compute"
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
else:
    provisioning_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes=1, max_nodes=4)
    compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)
    compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

project_folder = "compare_models"
pipeline_param = PipelineParameter(name="pipeline_arg", default_value=10)
trainStep = PythonScriptStep(
    script_name="train.py",
    arguments=["--input", blob_input_data, "--output", processed_data1],
    inputs=[blob_input_data],
    outputs=[processed_data1],
    compute_target=compute_target,
    source_directory=project_folder
)
extractStep = PythonScriptStep(
    script_name="extract.py",
    arguments=["--input_data", blob_input_data, "--models", processed_data1, "--output_extract", processed_data2],
    inputs=[blob_input_data, processed_data1],
    outputs=[processed_data2],
    compute_target=compute_target,
    source_directory=project_folder)
compareStep = PythonScriptStep(
    script_name="compare.py",
    arguments=["--comp_data1", processed_data1, "--comp_data2", processed_data2, "--output_data", out_data3,
               "--param1", pipeline_param],
    inputs=[processed_data1, processed_data2],
    outputs=[out_data3],
    compute_target=compute_target,
    source_directory=project_folder)

compareModels = [trainStep, extractStep, compareStep]
pipeline1 = Pipeline(workspace=ws, steps=[compareModels])

pipeline_run1 = Experiment(ws, 'Compare_Models_Exp').submit(pipeline1)
shutil.rmtree(project_folder)  # test: the workers must run the uploaded snapshot, not these files
pipeline_run1.wait_for_completion(show_output=True)
pipeline_run1.find_step_run("compare.py")[0].get_output_data("out_data3").download("outputs")  # test

published_pipeline1 = pipeline1.publish(
    name="My_Published_Pipeline",
    description="My Published Pipeline Description")

republished = pipeline_run1.publish_pipeline(name="My_New_Pipeline2", description="The run's graph",  # test
                                           version="0.1", continue_on_step_failure=True)
aad_token = AirflowTokenAuthentication().get_authentication_header()
response = requests.post(published_pipeline1.endpoint,
    headers=aad_token,
    json={"ExperimentName": "My_Pipeline",
        "ParameterAssignments": {"pipeline_arg": 20}})
result = {"submitted": pipeline_run1.id, "submitted_pipeline": pipeline_run1.pipeline_id}  # test
result.update(published=published_pipeline1.id, endpoint=published_pipeline1.endpoint, republished=republished.id)
result.update(status=response.status_code, body=response.json(), experiments=sorted(ws.experiments))
result["runs"] = [r.id for r in Experiment(ws, "Compare_Models_Exp").get_runs()]
print("RESULT " + json.dumps(result))
"""


def notebook_folder(tmp_path, stack) -> str:
    """A notebook's folder: the seed's code, its step scripts, its data and the workspace config."""
    folder = tmp_path / "notebook"
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), folder / "compare_models")
    (folder / "seed.py").write_text(textwrap.dedent(SEED))
    (folder / "data").mkdir()
    sys.path.insert(0, os.path.join(ROOT, "dags", "compare_models"))
    try:
        from upload_data import make_rows
    finally:
        sys.path.pop(0)
    (folder / "data" / "20news.csv").write_text("\n".join(make_rows()) + "\n")
    (folder / ".azureml").mkdir()
    (folder / ".azureml" / "config.json").write_text(json.dumps({"api_url": stack.url, "username": "admin"}))
    return str(folder)


def notebook_env(folder: str, stack, **extra: str) -> dict[str, str]:
    """A notebook machine's environment: no Airflow home of the deployment, only its URL (config.json) and a login.

    It shares the workers' local datastore folder, as a notebook reaching the same storage would.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AMLFLOW"))}
    env.update(
        AIRFLOW_HOME=os.path.join(folder, ".airflow"),
        AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT=stack.datastore_root,
        AMLFLOW_PASSWORD=PASSWORDS["admin"],
    )
    env.update(extra)  # may replace the above: a notebook on a machine that does not share the datastore
    return env


def notebook_result(stdout: str) -> dict:
    """The JSON a notebook printed on its ``RESULT`` line (log lines may follow it)."""
    return json.loads(stdout.split("RESULT ", 1)[1].splitlines()[0])


def run_notebook_text(stack, folder, notebook: str, files: dict[str, str] | None = None, **extra: str) -> dict:
    """Run ``notebook`` (a script's text) as ``notebook.py`` in ``folder`` (a Path), beside ``files`` (path ->
    text) and a workspace config pointing at ``stack``; the JSON of its RESULT line."""
    return notebook_outcome(start_notebook_text(stack, folder, notebook, files, **extra))


def start_notebook_text(
    stack, folder, notebook: str, files: dict[str, str] | None = None, **extra: str
) -> subprocess.Popen:
    """Start what :func:`run_notebook_text` runs, without waiting: several notebooks may run at once."""
    for path, text in {**(files or {}), "notebook.py": notebook}.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(textwrap.dedent(text))
    (folder / ".azureml").mkdir()
    (folder / ".azureml" / "config.json").write_text(json.dumps({"api_url": stack.url, "username": "admin"}))
    env = notebook_env(str(folder), stack, **extra)
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.Popen([sys.executable, "notebook.py"], cwd=folder, env=env, text=True, **pipes)


def notebook_outcome(process: subprocess.Popen, timeout: float = 300) -> dict:
    """The JSON of the RESULT line of a started notebook, once it ended well."""
    stdout, stderr = process.communicate(timeout=timeout)
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return notebook_result(stdout)


def run_notebook(folder: str, stack, script: str = "seed.py", **extra: str) -> subprocess.CompletedProcess:
    env = notebook_env(folder, stack, **extra)
    return subprocess.run([sys.executable, script], cwd=folder, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def seed_notebook(airflow_stack, tmp_path_factory):
    folder = notebook_folder(tmp_path_factory.mktemp("seed"), airflow_stack)
    done = run_notebook(folder, airflow_stack)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = notebook_result(done.stdout)
    return folder, done.stdout, result


def test_the_seed_submits_from_its_own_process_and_waits_with_show_output(seed_notebook):
    _folder, output, result = seed_notebook
    assert f"Submitted PipelineRun {result['submitted']}" in output
    assert "PipelineRun Status: Finished" in output
    assert "StepRun( compare.py ) Status: Finished" in output
    assert not os.path.exists(os.path.join(_folder, "compare_models"))  # its scripts were gone during the run


def test_the_compare_steps_output_is_downloaded_as_in_azure_ml(seed_notebook):
    folder, _output, _result = seed_notebook
    reports = [os.path.join(r, n) for r, _d, names in os.walk(os.path.join(folder, "outputs")) for n in names]
    assert [os.path.basename(p) for p in reports] == ["report.json"]
    with open(reports[0]) as handle:
        report = json.load(handle)
    assert report["pipeline_arg"] == 10 and report["best_model"] in report["scores"]


def test_the_published_pipelines_endpoint_runs_with_the_posted_parameter(airflow_stack, seed_notebook):
    _folder, _output, result = seed_notebook
    assert result["status"] == 200, result
    assert result["published"].startswith("My_Published_Pipeline.")
    assert result["endpoint"].endswith(f"/PipelineSubmit/{result['published']}")
    run = airflow_stack.wait_for_run(result["published"], result["body"]["Id"], timeout=180)
    assert run["state"] == "success"
    location = airflow_stack.xcom(result["published"], run["dag_run_id"], "compare.py", "out_data3")
    with open(os.path.join(airflow_stack.local_output(location), "report.json")) as handle:
        report = json.load(handle)
    assert (report["pipeline_arg"], report["pipeline_arg_env"]) == (20, "20")


def test_the_published_pipeline_is_listed_and_shown_by_its_name(airflow_stack, seed_notebook):
    _folder, _output, result = seed_notebook
    status, listed = airflow_stack.request("GET", "/amlflow/pipelines/v1.0/PublishedPipelines")
    assert status == 200
    entity = next(e for e in listed if e["Id"] == result["published"])
    assert (entity["Name"], entity["Description"], entity["Status"]) == (
        "My_Published_Pipeline",
        "My Published Pipeline Description",
        "Active",
    )
    status, dag = airflow_stack.request("GET", f"/api/v2/dags/{result['published']}")
    assert status == 200 and dag["is_paused"] is False and dag["dag_display_name"] == "My_Published_Pipeline"


def test_the_submitted_run_is_found_by_its_experiment(airflow_stack, seed_notebook):
    _folder, _output, result = seed_notebook
    assert "Compare_Models_Exp" in result["experiments"] and result["runs"] == [result["submitted"]]
    status, experiments = airflow_stack.request("GET", "/amlflow/pipelines/v1.0/Experiments")
    assert status == 200 and {"Name": "Compare_Models_Exp"} in experiments
    status, run = airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineRuns/{result['submitted']}")
    assert status == 200 and run["RunHistoryExperimentName"] == "Compare_Models_Exp"


def test_a_run_is_published_with_the_graph_and_code_it_ran(airflow_stack, seed_notebook):
    _folder, _output, result = seed_notebook
    assert result["republished"].startswith("My_New_Pipeline2.")
    status, entity = airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PublishedPipelines/{result['republished']}")
    assert status == 200, entity
    assert (entity["Name"], entity["Version"], entity["TotalRunSteps"]) == ("My_New_Pipeline2", "0.1", 3)
    ran = airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineDefinitions/{result['submitted_pipeline']}")
    again = airflow_stack.request("GET", f"/amlflow/pipelines/v1.0/PipelineDefinitions/{result['republished']}")
    assert ran[0] == again[0] == 200
    snapshots = layout.SNAPSHOT_REFERENCE_IN_TEXT.findall
    assert snapshots(ran[1]["Definition"]) == snapshots(again[1]["Definition"])
