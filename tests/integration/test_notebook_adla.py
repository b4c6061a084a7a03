"""Microsoft's ``aml-pipelines-use-adla-as-compute-target`` notebook, imports renamed, against the ADLA double.

The notebook's own code, cell by cell, as one script in its own process: it checks for the compute
target (the deployment has its connection, so ``AdlaCompute(ws, name)`` finds it), writes its sample data
and U-SQL script, builds an AdlaStep, submits it from the notebook and waits. Two changes, both of data:
Microsoft's notebook registers an ADLS Gen1 store (retired in 2024), here the default datastore holds
the sample; and the double plays the U-SQL job (reads the employees, writes their names).
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from urllib.parse import urlsplit

import pytest

from tests.doubles.adla import Outcome
from tests.integration.test_notebook_submit import run_notebook

pytestmark = pytest.mark.integration

NOTEBOOK = """
import json, os
import amlflow.core
from amlflow.exceptions import ComputeTargetException
from amlflow.core import Workspace, Experiment
from amlflow.core.compute import ComputeTarget, AdlaCompute
from amlflow.core.datastore import Datastore
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import AdlaStep

print("SDK version:", amlflow.core.VERSION)
ws = Workspace.from_config()
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep = '\\n')

adla_compute_name = 'testadl'
adla_account_name = "amlflownotebook"
adla_resource_group = "rg"
try:
    adla_compute = AdlaCompute(ws, adla_compute_name)
except ComputeTargetException:
    print('attaching adla compute...')
    attach_config = AdlaCompute.attach_configuration(resource_group=adla_resource_group, account_name=adla_account_name)
    adla_compute = ComputeTarget.attach(ws, adla_compute_name, attach_config)
    adla_compute.wait_for_completion()

print("Using ADLA compute:{}".format(adla_compute.cluster_resource_id))
print("Provisioning state:{}".format(adla_compute.provisioning_state))
print("Provisioning errors:{}".format(adla_compute.provisioning_errors))

adls_datastore = Datastore(ws, "workspaceblobstore")  # the notebook registers ADLS Gen1, retired in 2024

sample_folder = "adla_sample"
if not os.path.isdir(sample_folder):
    os.mkdir(sample_folder)
with open(os.path.join(sample_folder, "sample_input.csv"), "w") as handle:  # the notebook's %%writefile
    handle.write("1, Noah, 100\\n3, Liam, 100\\n4, Emma, 100\\n5, Jacob, 100\\n7, Jennie, 100\\n")
adls_datastore.upload_files(
    [os.path.join(sample_folder, "sample_input.csv")], target_path="adla_sample", overwrite=True)

sample_input = DataReference(
    datastore=adls_datastore,
    data_reference_name="employee_data",
    path_on_datastore="adla_sample/sample_input.csv")
sample_output = PipelineData("sample_output", datastore=adls_datastore)

with open(os.path.join(sample_folder, "sample_script.usql"), "w") as handle:  # %%writefile
    handle.write('''
// Read employee information from csv file
@employees =
    EXTRACT EmpId int, EmpName string, DeptId int
    FROM "@@employee_data@@"
    USING Extractors.Csv();

// Export employee names to text file
OUTPUT
(
    SELECT EmpName
    FROM @employees
)
TO "@@sample_output@@"
USING Outputters.Text();
''')

adla_step = AdlaStep(
    name='extract_employee_names',
    script_name='sample_script.usql',
    source_directory=sample_folder,
    inputs=[sample_input],
    outputs=[sample_output],
    compute_target=adla_compute)

pipeline = Pipeline(workspace=ws, steps=[adla_step])

pipeline_run = Experiment(ws, 'adla_sample').submit(pipeline)
pipeline_run.wait_for_completion()

from amlflow.widgets import RunDetails
RunDetails(pipeline_run).show()
names = pipeline_run.find_step_run("extract_employee_names")[0].get_output_data("sample_output")  # test
names.download("outputs")  # test
print("RESULT " + json.dumps({"run": pipeline_run.id}))  # test
"""


def employee_names(parameters: dict) -> None:
    """The U-SQL job, played by the double: the employees' names from the input to the output."""
    script = parameters["properties"]["script"]
    source = re.search(r'FROM "([^"]+)"', script).group(1)
    target = re.search(r'TO "([^"]+)"', script).group(1)
    with open(urlsplit(source).path) as handle:
        names = [line.split(",")[1].strip() for line in handle if line.strip()]
    os.makedirs(urlsplit(target).path, exist_ok=True)
    with open(os.path.join(urlsplit(target).path, "names.txt"), "w") as handle:
        handle.write("\n".join(names) + "\n")


@pytest.fixture(scope="module")
def adla_notebook(airflow_stack, adla_double, tmp_path_factory):
    connection = adla_double.connection("amlflownotebook")
    body = {"connection_id": "testadl", "conn_type": connection["conn_type"], "login": connection["login"]}
    body.update(password=connection["password"], extra=json.dumps(connection["extra"]))
    status, answer = airflow_stack.request("POST", "/api/v2/connections", body)
    assert status in (200, 201, 409), answer
    adla_double.plan("extract_employee_names", Outcome.success(on_success=employee_names))
    folder = tmp_path_factory.mktemp("adla_notebook")
    (folder / ".azureml").mkdir()
    (folder / ".azureml" / "config.json").write_text(json.dumps({"api_url": airflow_stack.url, "username": "admin"}))
    (folder / "notebook.py").write_text(textwrap.dedent(NOTEBOOK))
    done = run_notebook(str(folder), airflow_stack, "notebook.py")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return folder, done.stdout


def test_the_adla_notebook_runs_its_u_sql_step_from_the_notebook(adla_notebook, adla_double):
    folder, output = adla_notebook
    assert "PipelineRun Status: Finished" in output
    (job,) = adla_double.submitted("extract_employee_names")
    assert "@@" not in job["properties"]["script"]  # every @@name@@ became its data's URI
    downloaded = [os.path.join(r, n) for r, _d, names in os.walk(folder / "outputs") for n in names]
    with open(downloaded[0]) as handle:
        assert handle.read().split() == ["Noah", "Liam", "Emma", "Jacob", "Jennie"]


def test_the_notebook_found_the_deployments_adla_target_and_shows_the_run(adla_notebook):
    _folder, output = adla_notebook
    assert "attaching adla compute..." not in output  # AdlaCompute(ws, name) found the deployment's
    assert "Provisioning state:Succeeded" in output and "SDK version: " in output
    table = [line for line in output.splitlines() if line.startswith("extract_employee_names")]
    assert table and table[-1].split()[1] == "Finished"  # RunDetails(pipeline_run).show()
