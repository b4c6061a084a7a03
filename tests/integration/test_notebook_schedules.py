"""Schedules on the session stack: a 1-minute recurrence fires on Airflow's scheduler with its own parameter
values, and stops once disabled; what Azure ML refuses is refused, naming the field.

``SCHEDULE_NOTEBOOK`` is Microsoft's ``aml-pipelines-setup-schedule-for-a-published-pipeline`` notebook, imports
renamed; it watches a blob datastore, so it runs on the blob stack (``test_notebook_blob``).
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.airflow_stack import wait_until
from tests.integration.test_notebook_endpoints import COMPUTE, TRAIN
from tests.integration.test_notebook_submit import run_notebook_text

pytestmark = pytest.mark.integration

SERVICE = "/amlflow/pipelines/v1.0"

EVERY_MINUTE = (
    """
import json
from amlflow.core import Workspace

ws = Workspace.from_config()
"""
    + COMPUTE
    + """
from amlflow.pipeline.core import Pipeline, PipelineParameter
from amlflow.pipeline.core.schedule import Schedule, ScheduleRecurrence
from amlflow.pipeline.steps import PythonScriptStep

greeting = PipelineParameter(name="greeting", default_value="hello")
step = PythonScriptStep(name="Training_Step", script_name="train.py", arguments=[greeting],
                        compute_target=aml_compute_target, source_directory="publish_run_train")
published = Pipeline(workspace=ws, steps=[step]).publish(name="Greeting", description="scheduled twice")

every_minute = ScheduleRecurrence(frequency="Minute", interval=1)
schedules = [
    Schedule.create(ws, name=f"greet_{value}", pipeline_id=published.id, experiment_name="Schedule-run-sample",
                    recurrence=every_minute, pipeline_parameters={"greeting": value}, description=value)
    for value in ("scheduled", "other")
]
print("RESULT " + json.dumps({
    "pipeline": published.id,
    "schedules": {s.name: [s.id, s.dag_id, s.status, s.recurrence.frequency] for s in schedules},
    "listed": sorted(s.name for s in Schedule.get_schedules_for_pipeline_id(ws, published.id)),
}))
"""
)

DISABLE = """
import json
from amlflow.core import Workspace
from amlflow.pipeline.core.schedule import Schedule

ws = Workspace.from_config()
schedule = Schedule.get(ws, "{schedule_id}")
schedule.disable(wait_for_provisioning=True)
fetched = Schedule.get(ws, "{schedule_id}")
runs = fetched.get_pipeline_runs()
print("RESULT " + json.dumps({{
    "status": fetched.status,
    "runs": [run.id for run in runs],
    "last": fetched.get_last_pipeline_run().id,
    "active": sorted(s.name for s in Schedule.list(ws)),
}}))
"""


def _runs(stack, schedule_id: str) -> list[dict]:
    status, runs = stack.request("GET", f"{SERVICE}/PipelineRuns/Schedule/{schedule_id}")
    assert status == 200, runs
    return runs


@pytest.fixture(scope="module")
def every_minute(airflow_stack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("every_minute")
    return run_notebook_text(airflow_stack, folder, EVERY_MINUTE, {"publish_run_train/train.py": TRAIN})


def test_a_one_minute_recurrence_fires_with_each_schedules_own_values(every_minute, airflow_stack):
    assert every_minute["listed"] == ["greet_other", "greet_scheduled"]
    pipeline = every_minute["pipeline"]
    for value, (schedule_id, dag_id, state, frequency) in sorted(every_minute["schedules"].items()):
        assert (state, frequency) == ("Active", "Minute")
        status, dag = airflow_stack.request("GET", f"/api/v2/dags/{dag_id}")
        assert status == 200 and dag["timetable_summary"].startswith("every minute from ") and not dag["is_paused"]
        wait_until(lambda s=schedule_id: _runs(airflow_stack, s), timeout=150, what=f"a run of schedule {value}")
        run = _runs(airflow_stack, schedule_id)[-1]
        assert (run["PipelineId"], run["ScheduleId"], run["RunSource"]) == (pipeline, schedule_id, "Schedule")
        assert run["RunHistoryExperimentName"] == "Schedule-run-sample"
        wanted = value.removeprefix("greet_")
        assert run["ParameterAssignments"] == {"greeting": wanted}
        assert airflow_stack.wait_for_run(pipeline, run["Id"])["state"] == "success"
        assert f"training with ['{wanted}']" in airflow_stack.task_log(pipeline, run["Id"], "Training_Step")


def test_a_disabled_schedule_stops_firing(every_minute, airflow_stack, tmp_path):
    schedule_id, dag_id, _state, _frequency = every_minute["schedules"]["greet_other"]
    wait_until(lambda: _runs(airflow_stack, schedule_id), timeout=150, what="a first run")
    result = run_notebook_text(airflow_stack, tmp_path, DISABLE.format(schedule_id=schedule_id))
    assert result["status"] == "Disabled" and "greet_other" not in result["active"]
    assert result["last"] == result["runs"][0]
    status, dag = airflow_stack.request("GET", f"/api/v2/dags/{dag_id}")
    assert status == 200 and dag["is_paused"]
    fired = len(_runs(airflow_stack, schedule_id))
    # The other schedule, created with it for the same minutes and still active, fires again: a period passed.
    active_id = every_minute["schedules"]["greet_scheduled"][0]
    active_fired = len(_runs(airflow_stack, active_id))
    wait_until(lambda: len(_runs(airflow_stack, active_id)) > active_fired, timeout=150, what="the active one's run")
    time.sleep(5)  # the two were created a moment apart: the disabled one's minute has passed too
    assert len(_runs(airflow_stack, schedule_id)) == fired
    assert airflow_stack.request("PATCH", f"{SERVICE}/Schedules/{active_id}", {"status": "Disabled"})[0] == 200


def test_what_azure_ml_refuses_is_refused_naming_the_field(every_minute, airflow_stack, tmp_path):
    pipeline = every_minute["pipeline"]
    base = {"name": "bad", "experiment_name": "bad", "pipeline_id": pipeline}
    cases = [
        (
            {"recurrence": {"frequency": "Minute", "interval": 1, "hours": [3]}},
            400,
            "recurrence: Can only specify hours",
        ),
        ({"recurrence": {"frequency": "Fortnight", "interval": 1}}, 400, "recurrence: Invalid value for frequency"),
        ({"recurrence": {"frequency": "Day", "interval": 1, "time_zone": "Mars"}}, 400, "recurrence.time_zone"),
        ({"datastore_name": "workspaceblobstore"}, 400, "datastore_name: Datastore must be of type AzureBlobDatastore"),
        ({"pipeline_id": "no_such_pipeline", "recurrence": {"frequency": "Hour", "interval": 1}}, 404, "pipeline_id"),
        (
            {"recurrence": {"frequency": "Hour", "interval": 1}, "submission": {"ParameterAssignments": {"nope": 1}}},
            400,
            "ParameterAssignments.nope",
        ),
    ]
    for change, code, message in cases:
        status, answer = airflow_stack.request("POST", f"{SERVICE}/Schedules", {**base, **change})
        assert (status, message in str(answer)) == (code, True), (change, answer)
    status, answer = airflow_stack.request("POST", f"{SERVICE}/Schedules", {**base, "recurrence": None}, user="viewer")
    assert status == 403, answer
    refused = """
import json
from amlflow.core import Workspace, Datastore
from amlflow.pipeline.core.schedule import Schedule, ScheduleRecurrence
ws = Workspace.from_config()
errors = []
for make in (
    lambda: ScheduleRecurrence(frequency="Minute", interval=1, hours=[22]).validate(),
    lambda: Schedule.create(ws, name="x", pipeline_id="{pipeline}", experiment_name="x",
                            datastore=Datastore(ws, "workspaceblobstore")),
    lambda: Schedule.create(ws, name="x", pipeline_id="{pipeline}", experiment_name="x",
                            recurrence=ScheduleRecurrence("Hour", 1), path_on_datastore="in"),
):
    try:
        make()
    except ValueError as error:
        errors.append(str(error))
print("RESULT " + json.dumps(errors))
""".replace("{pipeline}", pipeline)
    assert run_notebook_text(airflow_stack, tmp_path, refused) == [
        "Can only specify hours if frequency is Week or Day.",
        "Datastore must be of type AzureBlobDatastore",
        "Path on datastore parameter can only be specified for Datastore schedules.",
    ]
    names = {s["name"] for s in airflow_stack.request("GET", f"{SERVICE}/Schedules?activeOnly=false")[1]}
    assert "bad" not in names and "x" not in names  # nothing half-made was kept


SCHEDULE_NOTEBOOK = (
    """
import json
import amlflow.core
from amlflow.core import Workspace

# Check core SDK version number
print("SDK version:", amlflow.core.VERSION)

ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')
"""
    + COMPUTE
    + """
from amlflow.pipeline.steps import PythonScriptStep

source_directory = "publish_run_train"

trainStep = PythonScriptStep(
    name="Training_Step",
    script_name="train.py",
    compute_target=aml_compute_target,
    source_directory=source_directory
)
print("TrainStep created")

from amlflow.pipeline.core import Pipeline

pipeline1 = Pipeline(workspace=ws, steps=[trainStep])
print ("Pipeline is built")

from datetime import datetime

timenow = datetime.now().strftime('%m-%d-%Y-%H-%M')

pipeline_name = timenow + "-Pipeline"
print(pipeline_name)

published_pipeline1 = pipeline1.publish(
    name=pipeline_name,
    description=pipeline_name)
print("Newly published pipeline id: {}".format(published_pipeline1.id))

from amlflow.pipeline.core import PipelineEndpoint

pipeline_endpoint = PipelineEndpoint.publish(workspace=ws, name="ScheduledPipelineEndpoint",
                                            pipeline=pipeline1,
                                            description="Publish pipeline endpoint for schedule test")
pipeline_endpoint

from amlflow.pipeline.core import PublishedPipeline

# You could retrieve all pipelines that are published, or
# just get the published pipeline object that you have the ID for.

# Get all published pipeline objects in the workspace
all_pub_pipelines = PublishedPipeline.list(ws)

# We will iterate through the list of published pipelines and
# use the last ID in the list for Schelue operations:
print("Published pipelines found in the workspace:")
for pub_pipeline in all_pub_pipelines:
    print(pub_pipeline.id)
    pub_pipeline_id = pub_pipeline.id

print("Published pipeline id to be used for Schedule operations: {}".format(pub_pipeline_id))

from amlflow.pipeline.core.schedule import ScheduleRecurrence, Schedule

recurrence = ScheduleRecurrence(frequency="Day", interval=2, hours=[22], minutes=[30]) # Runs every other day at 10:30pm

schedule = Schedule.create(workspace=ws, name="My_Schedule",
                           pipeline_id=pub_pipeline_id,
                           experiment_name='Schedule-run-sample',
                           recurrence=recurrence,
                           wait_for_provisioning=True,
                           description="Schedule Run")

# You may want to make sure that the schedule is provisioned properly
# before making any further changes to the schedule

print("Created schedule with id: {}".format(schedule.id))

schedules = Schedule.list(ws, pipeline_id=pub_pipeline_id)

# We will iterate through the list of schedules and
# use the last recurrence schedule in the list for further operations:
print("Found these schedules for the pipeline id {}:".format(pub_pipeline_id))
for schedule in schedules:
    print(schedule.id)
    if schedule.recurrence is not None:
        schedule_id = schedule.id

print("Schedule id to be used for schedule operations: {}".format(schedule_id))

# Use active_only=False to get all schedules including disabled schedules
schedules = Schedule.list(ws, active_only=True)
print("Your workspace has the following schedules set up:")
for schedule in schedules:
    print("{} (Published pipeline: {}".format(schedule.id, schedule.pipeline_id))

fetched_schedule = Schedule.get(ws, schedule_id)
print("Using schedule with id: {}".format(fetched_schedule.id))

# Set the wait_for_provisioning flag to False if you do not want to wait
# for the call to provision the schedule in the backend.
fetched_schedule.disable(wait_for_provisioning=True)
fetched_schedule = Schedule.get(ws, schedule_id)
print("Disabled schedule {}. New status is: {}".format(fetched_schedule.id, fetched_schedule.status))
disabled_status = fetched_schedule.status  # test

# Set the wait_for_provisioning flag to False if you do not want to wait
# for the call to provision the schedule in the backend.
fetched_schedule.enable(wait_for_provisioning=True)
fetched_schedule = Schedule.get(ws, schedule_id)
print("Enabled schedule {}. New status is: {}".format(fetched_schedule.id, fetched_schedule.status))

# Set the wait_for_provisioning flag to False if you do not want to wait
# for the call to provision the schedule in the backend.
recurrence = ScheduleRecurrence(frequency="Hour", interval=2) # Runs every two hours

fetched_schedule = Schedule.get(ws, schedule_id)

fetched_schedule.update(name="My_Updated_Schedule",
                        description="Updated_Schedule_Run",
                        status='Active',
                        wait_for_provisioning=True,
                        recurrence=recurrence)

fetched_schedule = Schedule.get(ws, fetched_schedule.id)

print("Updated schedule:", fetched_schedule.id,
      "\\nNew name:", fetched_schedule.name,
      "\\nNew frequency:", fetched_schedule.recurrence.frequency,
      "\\nNew status:", fetched_schedule.status)
updated = [fetched_schedule.name, fetched_schedule.recurrence.frequency, fetched_schedule.status]  # test

from amlflow.core.datastore import Datastore

datastore = Datastore(workspace=ws, name="workspaceblobstore")

schedule = Schedule.create(workspace=ws, name="My_Schedule",
                           pipeline_id=pub_pipeline_id,
                           experiment_name='Schedule-run-sample',
                           datastore=datastore,
                           wait_for_provisioning=True,
                           description="Schedule Run")
                          #polling_interval=5, use polling_interval to specify how often to poll for blob
                          # additions/modifications. Default value is 5 minutes.
                          #path_on_datastore="file/path") use path_on_datastore to specify a specific folder
                          # to monitor for changes.

# You may want to make sure that the schedule is provisioned properly
# before making any further changes to the schedule

print("Created schedule with id: {}".format(schedule.id))
datastore_schedule = [schedule.id, schedule.datastore_name, schedule.polling_interval]  # test

# Set the wait_for_provisioning flag to False if you do not want to wait
# for the call to provision the schedule in the backend.
schedule.disable(wait_for_provisioning=True)
schedule = Schedule.get(ws, schedule_id)
print("Disabled schedule {}. New status is: {}".format(schedule.id, schedule.status))

pipeline_endpoint_by_name = PipelineEndpoint.get(workspace=ws, name="ScheduledPipelineEndpoint")
published_pipeline_endpoint_id = pipeline_endpoint_by_name.id

recurrence = ScheduleRecurrence(frequency="Day", interval=2, hours=[22], minutes=[30]) # Runs every other day at 10:30pm

schedule = Schedule.create_for_pipeline_endpoint(workspace=ws, name="My_Endpoint_Schedule",
                                                 pipeline_endpoint_id=published_pipeline_endpoint_id,
                                                 experiment_name='Schedule-run-sample',
                                                 recurrence=recurrence, description="Schedule_Run",
                                                 wait_for_provisioning=True)

# You may want to make sure that the schedule is provisioned properly
# before making any further changes to the schedule

print("Created schedule with id: {}".format(schedule.id))
endpoint_schedule = [schedule.id, schedule.pipeline_endpoint_id, schedule.dag_id]  # test

schedules_for_pipeline_endpoints = Schedule.\\
    get_schedules_for_pipeline_endpoint_id(ws,
                                           pipeline_endpoint_id=published_pipeline_endpoint_id)
print('Got all schedules for pipeline endpoint:', published_pipeline_endpoint_id, 'Count:',
      len(schedules_for_pipeline_endpoints))

print('done')

fetched_schedule = Schedule.get(ws, schedule_id)
print("Using schedule with id: {}".format(fetched_schedule.id))

# Set the wait_for_provisioning flag to False if you do not want to wait
# for the call to provision the schedule in the backend.
fetched_schedule.disable(wait_for_provisioning=True)
fetched_schedule = Schedule.get(ws, schedule_id)
print("Disabled schedule {}. New status is: {}".format(fetched_schedule.id, fetched_schedule.status))

# test: what the test checks
Schedule.get(ws, endpoint_schedule[0]).disable()
print("RESULT " + json.dumps({
    "disabled_status": disabled_status,
    "updated": updated,
    "datastore_schedule": datastore_schedule + [Schedule.get(ws, datastore_schedule[0]).status],
    "endpoint_schedule": endpoint_schedule + [len(schedules_for_pipeline_endpoints)],
    "endpoint_default": pipeline_endpoint_by_name.get_pipeline().id,
    "published_pipeline1": published_pipeline1.id,
    "last_status": fetched_schedule.status,
}))
"""
)

READER = """
import argparse

parser = argparse.ArgumentParser("read")
parser.add_argument("--arg2", type=str, help="sample datapath argument")
args = parser.parse_args()
with open(args.arg2) as handle:
    print("READ " + handle.read())
"""

DATASTORE_SCHEDULE = (
    """
import json
from amlflow.core import Workspace
from amlflow.data.datapath import DataPath, DataPathComputeBinding
from amlflow.pipeline.core import Pipeline, PipelineParameter, Schedule
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace.from_config()
def_blob_store = ws.get_default_datastore()
"""
    + COMPUTE
    + """
data_path = DataPath(datastore=def_blob_store, path_on_datastore='sample_datapath1')
datapath1_pipeline_param = PipelineParameter(name="input_datapath", default_value=data_path)
datapath_input = (datapath1_pipeline_param, DataPathComputeBinding(mode='mount'))

train_step = PythonScriptStep(
    name='train_step',
    script_name="read.py",
    arguments=["--arg2", datapath_input],
    inputs=[datapath_input],
    compute_target=aml_compute_target,
    source_directory="reader")
published_pipeline = Pipeline(workspace=ws, steps=[train_step]).publish(name="DataPath_Scheduled")

schedule = Schedule.create(workspace=ws,
                           name="Datastore_trigger_schedule",
                           pipeline_id=published_pipeline.id,
                           experiment_name='Scheduled_Pipeline',
                           datastore=def_blob_store,
                           wait_for_provisioning=True,
                           description="Datastore trigger schedule demo",
                           path_on_datastore="sample_datapath_for_folder",
                           #Same name as used above to create PipelineParameter
                           data_path_parameter_name="input_datapath",
                           polling_interval=0.1)  # test: 6 s, not 5 minutes

print("Created schedule with id: {}".format(schedule.id))
print("RESULT " + json.dumps({"schedule": schedule.id, "dag": schedule.dag_id, "pipeline": published_pipeline.id}))
"""
)
