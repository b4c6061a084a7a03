"""The Azure ML style client against a real deployment: submit, watch, read outputs, cancel, disable."""

from __future__ import annotations

import json
import time

import pytest

from amlflow.core import Datastore, Experiment, ServicePrincipalAuthentication, Workspace
from amlflow.core.authentication import AccessToken
from amlflow.data.data_reference import DataReference
from amlflow.exceptions import ActivityFailedException, ErrorResponseException
from amlflow.pipeline.core import PipelineRun, PublishedPipeline
from tests.example_pipeline import DAG_ID, installed_example
from tests.fixtures.airflow_stack import PASSWORDS

pytestmark = pytest.mark.integration

STEPS = ["train.py", "extract.py", "compare.py"]


@pytest.fixture(scope="module")
def workspace(airflow_stack, airflow_db, tmp_path_factory):
    """A user's workspace: ``.azureml/config.json`` names the api-server and the user; the password is in the env."""
    installed_example(airflow_stack)
    folder = tmp_path_factory.mktemp("user")
    (folder / ".azureml").mkdir()
    config = {"workspace_name": "ws", "api_url": airflow_stack.url, "username": "admin"}
    (folder / ".azureml" / "config.json").write_text(json.dumps(config))
    from amlflow.storage.registry import forget_backends

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AMLFLOW_PASSWORD", PASSWORDS["admin"])
        # Downloads read the datastores as a worker does: here, the deployment's local datastore folder.
        patch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", airflow_stack.datastore_root)
        forget_backends()
        yield Workspace.from_config(path=str(folder))
    forget_backends()


@pytest.fixture(scope="module")
def published(workspace) -> PublishedPipeline:
    return PublishedPipeline.get(workspace, DAG_ID)


@pytest.fixture(scope="module")
def first_run(workspace, published):
    """A run that executes every step (nothing reused), watched with show_output=True."""
    import contextlib
    import io

    run = Experiment(workspace, "Client_Test").submit(
        published, pipeline_parameters={"pipeline_arg": 1}, regenerate_outputs=True
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = run.wait_for_completion(show_output=True, timeout_seconds=180)
    return run, status, printed.getvalue().splitlines()


def test_published_pipeline_get_and_list(airflow_stack, workspace, published):
    assert (published.id, published.name, published.status) == (DAG_ID, DAG_ID, "Active")
    assert published.endpoint == f"{airflow_stack.url}/amlflow/pipelines/v1.0/PipelineRuns/PipelineSubmit/{DAG_ID}"
    assert published.total_run_steps == 3
    assert published.parameters == {"pipeline_arg": 10}
    assert DAG_ID in [p.id for p in PublishedPipeline.list(workspace)]


def test_wait_for_completion_prints_each_state_change_as_it_happens(airflow_stack, first_run):
    run, status, lines = first_run
    assert status == "Finished"
    assert lines[0] == f"PipelineRunId: {run.id}"
    assert lines[1] == f"Link to Airflow UI: {airflow_stack.url}/dags/{DAG_ID}/runs/{run.id}"
    finished = [line for line in lines if line.startswith("StepRun(") and line.endswith("Status: Finished")]
    assert finished == [f"StepRun( {step} ) Status: Finished" for step in STEPS]
    # Printed while the run went on: the run's "Running" before the first step finished, "Finished" after the last.
    assert lines.index("PipelineRun Status: Running") < lines.index(finished[0])
    assert lines.index("PipelineRun Status: Finished") > lines.index(finished[-1])
    summary = lines.index("PipelineRun Execution Summary")
    details = json.loads("\n".join(lines[summary + 3 :]))
    assert (details["runId"], details["status"], details["experimentName"]) == (run.id, "Finished", "Client_Test")
    assert details["parameterAssignments"] == {"pipeline_arg": 1}


def test_steps_are_found_and_a_step_output_downloads(first_run, tmp_path):
    run = first_run[0]
    assert run.get_status() == "Finished"
    # Newest start first, as Azure ML lists a run's children.
    expected = [(s, "Finished", False) for s in reversed(STEPS)]
    assert [(s.name, s.get_status(), s.is_reused) for s in run.get_steps()] == expected
    (compare,) = run.find_step_run("compare.py")
    output = compare.get_output_data("out_data3")
    assert output.datastore_name == "workspaceblobstore"
    assert output.path_on_datastore == f"amlflow/{DAG_ID}/{run.id}/compare.py/out_data3"
    assert output.download(str(tmp_path), show_progress=False) == 1
    with open(tmp_path / output.path_on_datastore / "report.json") as handle:
        report = json.load(handle)
    assert (report["pipeline_arg"], report["ranking"]) == (1, ["linear"])
    with pytest.raises(Exception, match="has no output 'scores' \\(its outputs: out_data3\\)"):
        compare.get_output_data("scores")
    (train,) = run.find_step_run("train.py")
    assert "trained 2 models on 300 rows" in train.get_stdout_log()
    assert train.get_metrics() == {}


def test_step_runs_have_azure_mls_children_log_and_file_methods(first_run, tmp_path):
    from amlflow.exceptions import UserErrorException

    run = first_run[0]
    assert [s.name for s in run.get_children(status="Finished")] == list(reversed(STEPS))
    assert run.get_children(status="Failed") == []
    (train,) = run.find_step_run("train.py")
    assert "trained 2 models on 300 rows" in train.get_job_log()  # the step's task log in Airflow
    assert "trained 2 models on 300 rows" in train.get_details_with_logs()["logFiles"]["stdout.txt"]
    assert train.get_file_names() == ["metrics.json", "stderr.txt", "stdout.txt"]
    train.download_file("stdout.txt", str(tmp_path / "stdout.txt"))
    assert "trained 2 models on 300 rows" in (tmp_path / "stdout.txt").read_text()
    with pytest.raises(UserErrorException, match=r"has no file 'driver\.txt'"):
        train.download_file("driver.txt")
    outputs = run.find_step_run("compare.py")[0].get_outputs()
    references = {name: out.get_port_data_reference() for name, out in outputs.items()}
    assert [(name, ref.datastore_name) for name, ref in references.items()] == [("out_data3", "workspaceblobstore")]


def test_a_notebook_finds_the_deployments_compute_targets_as_azure_ml_finds_a_workspaces(workspace):
    from amlflow.core.compute import AmlCompute
    from amlflow.exceptions import ComputeTargetException

    # The example pipeline's pools were made for it: aml-compute, 4 nodes.
    found = AmlCompute(workspace, "aml-compute")
    assert (type(found).__name__, found.max_nodes) == ("AmlCompute", 4)
    assert "aml-compute" in workspace.compute_targets
    with pytest.raises(ComputeTargetException, match="ComputeTargetNotFound: Compute Target with name cpu-x not"):
        AmlCompute(workspace, "cpu-x")  # so the samples' "except ComputeTargetException: create" runs


def test_the_workspaces_datastores_are_the_deployments(workspace):
    # The stack's components hold the connection team_secrets; the local default is always there.
    datastores = workspace.datastores
    assert {"team_secrets", "workspaceblobstore"} <= set(datastores)
    assert datastores["team_secrets"].name == "team_secrets"


def test_run_details_shows_the_steps_and_their_status(first_run, capsys):
    from amlflow.widgets import RunDetails

    RunDetails(first_run[0]).show()
    table = capsys.readouterr().out.splitlines()
    assert table[0] == f"PipelineRun {first_run[0].id} Status: Finished"
    assert table[1].split() == ["Step", "Status", "Started", "Ended", "Reused", "from"]
    assert sorted(line.split()[:2] for line in table[2:]) == sorted([step, "Finished"] for step in STEPS)


def test_an_identical_run_shows_its_steps_as_reused(workspace, published, first_run, tmp_path):
    run = published.submit(workspace, "Client_Test", pipeline_parameters={"pipeline_arg": 1})
    assert run.wait_for_completion(show_output=False, timeout_seconds=180) == "Finished"
    steps = run.get_steps()
    assert sorted((s.name, s.is_reused) for s in steps) == sorted((s, True) for s in STEPS)
    assert {s.reused_from["reused_run_id"] for s in steps} == {first_run[0].id}
    # Its logs are the run's that made the outputs.
    assert "trained 2 models on 300 rows" in run.find_step_run("train.py")[0].get_stdout_log()
    # A reused step's output is the earlier run's, and downloads as any other.
    output = run.find_step_run("compare.py")[0].get_output_data("out_data3")
    assert output.path_on_datastore.startswith(f"amlflow/{DAG_ID}/{first_run[0].id}/")
    assert output.download(str(tmp_path), show_progress=False) == 1


def test_runs_are_found_by_experiment(workspace, first_run):
    found = [run.id for run in Experiment(workspace, "Client_Test").get_runs()]
    assert first_run[0].id in found
    assert first_run[0].id not in [run.id for run in Experiment(workspace, "Client").get_runs()]


def test_a_failed_run_raises_naming_the_failed_step(workspace, published):
    missing = DataReference(Datastore(workspace, "workspaceblobstore"), path_on_datastore="no/such/data.csv")
    run = published.submit(workspace, "Client_Test", pipeline_parameters={"test_data": missing})
    with pytest.raises(ActivityFailedException, match=f"PipelineRun {run.id} .* failed; failed steps: train.py;"):
        run.wait_for_completion(show_output=False, timeout_seconds=180)
    assert run.get_status() == "Failed"
    assert PipelineRun.get(workspace, run.id).get_details()["DataPathAssignments"] == {
        "test_data": {"DataStoreName": "workspaceblobstore", "RelativePath": "no/such/data.csv"}
    }


def test_cancel_stops_a_run_and_reports_canceled(workspace, published):
    run = published.submit(workspace, "Client_Test", pipeline_parameters={"pipeline_arg": 3}, regenerate_outputs=True)
    run.cancel()
    assert run.get_status() == "Canceled"
    assert run.wait_for_completion(show_output=False, timeout_seconds=30) == "Canceled"


def test_a_disabled_pipeline_refuses_runs_until_enabled(workspace, published):
    published.disable()
    try:
        assert PublishedPipeline.get(workspace, DAG_ID).status == "Disabled"
        assert DAG_ID not in [p.id for p in PublishedPipeline.list(workspace)]
        assert DAG_ID in [p.id for p in PublishedPipeline.list(workspace, active_only=False)]
        with pytest.raises(ErrorResponseException, match="published pipeline 'Compare_Models' is disabled") as caught:
            published.submit(workspace, "Client_Test")
        assert caught.value.status_code == 400
    finally:
        published.enable()
    assert PublishedPipeline.get(workspace, DAG_ID).status == "Active"


def test_a_viewer_can_read_but_not_submit(airflow_stack, published):
    auth = ServicePrincipalAuthentication(None, "viewer", PASSWORDS["viewer"])
    viewer = Workspace(api_url=airflow_stack.url, auth=auth)
    assert PublishedPipeline.get(viewer, DAG_ID).id == DAG_ID
    with pytest.raises(ErrorResponseException) as caught:
        PublishedPipeline.get(viewer, DAG_ID).submit(viewer, "Client_Test")
    assert (caught.value.status_code, caught.value.message.endswith(": Forbidden")) == (403, True)


def test_an_expired_token_is_replaced_before_the_next_call(workspace, published):
    from amlflow.client import client_for

    auth = client_for(workspace).auth
    first = auth.get_token()
    assert first.expires_on > time.time() + 3600  # Airflow's default lifetime is a day
    expiring = AccessToken(first.token, int(time.time()) + 30)  # within the refresh margin
    auth._token = expiring
    assert PublishedPipeline.get(workspace, DAG_ID).id == DAG_ID
    assert auth._token is not expiring and auth._token.expires_on > time.time() + 3600
