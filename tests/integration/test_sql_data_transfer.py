"""Azure ML's data-transfer notebook on the real stack: a real PostgreSQL, a blob datastore on Azurite.

The script is the notebook's PostgreSQL part with ``azureml.`` renamed to ``amlflow.``: "get, else
register" for both datastores, a ``SqlDataReference`` query and table, ``DataTransferStep`` to blob,
``Experiment.submit`` and ``wait_for_completion``. It runs as its own process on a machine of the
deployment (its Airflow home, so the registrations reach the metadata database, as a deploy script's
do); every ``Datastore.get`` goes to the api-server (``AMLFLOW_API_URL``), as a notebook's would.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap

import pytest

from tests.fixtures.airflow_stack import PASSWORDS
from tests.fixtures.azurite import ACCOUNT, ACCOUNT_KEY
from tests.integration.test_notebook_submit import notebook_result

pytestmark = pytest.mark.integration

CONTAINER = "sql-exports"

NOTEBOOK = """
import json, sys
from amlflow.core import Datastore, Experiment, Workspace
from amlflow.core.compute import ComputeTarget, DataFactoryCompute
from amlflow.data.data_reference import DataReference
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import DataTransferStep

ws = Workspace.from_config()
host, port, database, user, password, blob_endpoint, account_key = sys.argv[1:]  # test: the notebook's os.getenv
result = {}
try:  # test: a typo
    Datastore.get(ws, "MyPostgreSqlDatastor")
except UserErrorException as error:
    result["typo"] = str(error)

def get_or_register(name, register, **settings):  # test: the notebook's cell, once for both datastores
    try:
        datastore = Datastore.get(ws, name)
        print("Found datastore with name: %s" % name)
    except UserErrorException:
        datastore = register(workspace=ws, datastore_name=name, **settings)
        print("Registered datastore with name: %s" % name)
    return datastore

blob_datastore = get_or_register(
    "MyBlobDatastore", Datastore.register_azure_blob_container, account_name="devstoreaccount1",
    container_name="sql-exports", account_key=account_key, endpoint=blob_endpoint, create_if_not_exists=True)
psql_datastore_name = "MyPostgreSqlDatastore"
psql_datastore = get_or_register(
    psql_datastore_name, Datastore.register_azure_postgre_sql, server_name=host, database_name=database,
    user_id=user, user_password=password, port_number=port, enforce_ssl=False)  # test: its server has no TLS
found = Datastore.get(ws, psql_datastore_name)  # test: now the api-server knows it
result["found"] = [found.name, found.datastore_type]

psql_query_data_ref = SqlDataReference(datastore=psql_datastore, data_reference_name="psql_query_data_ref",
                                       sql_query="SELECT id, item, note FROM testtable WHERE amount > 1 ORDER BY id")
psql_table_data_ref = SqlDataReference(datastore=psql_datastore, data_reference_name="psql_table_data_ref",
                                       sql_table="testtable")
blob_data_ref = DataReference(datastore=blob_datastore, data_reference_name="blob_test_data",
                              path_on_datastore="testdata/query.csv")
blob_tables_ref = DataReference(datastore=blob_datastore, data_reference_name="blob_tables",
                                path_on_datastore="testdata/tables")
data_factory_compute = ComputeTarget.create(ws, "adftest", DataFactoryCompute.provisioning_configuration())

transfer_psql_to_blob = DataTransferStep(
    name="transfer_psql_to_blob",
    source_data_reference=psql_query_data_ref,
    destination_data_reference=blob_data_ref,
    compute_target=data_factory_compute,
    destination_reference_type='file')
transfer_table_to_blob = DataTransferStep(  # test: a table, to a folder
    name="transfer_table_to_blob",
    source_data_reference=psql_table_data_ref,
    destination_data_reference=blob_tables_ref,
    compute_target=data_factory_compute)

pipeline_02 = Pipeline(
    description="data_transfer_02",
    workspace=ws,
    steps=[transfer_psql_to_blob, transfer_table_to_blob])
pipeline_run_02 = Experiment(ws, "Data_Transfer_example_02").submit(pipeline_02)
pipeline_run_02.wait_for_completion()
result.update(status=pipeline_run_02.get_status(), run=pipeline_run_02.id, dag=pipeline_run_02.pipeline_id)
print("RESULT " + json.dumps(result))
"""

ROWS = [
    (1, "widget", 2.50, 'says "hi", twice'),
    (2, "gadget", 0.75, None),
    (3, "doohickey", 10.00, "line one\nline two"),
]


@pytest.fixture(scope="module")
def transfer_notebook(airflow_stack, postgres, azurite, tmp_path_factory):
    postgres.execute("DROP TABLE IF EXISTS testtable")
    postgres.execute("CREATE TABLE testtable (id integer, item text, amount numeric(8, 2), note text)")
    for row in ROWS:
        postgres.execute("INSERT INTO testtable VALUES (%s, %s, %s, %s)", row)
    folder = tmp_path_factory.mktemp("data_transfer_notebook")
    (folder / "notebook.py").write_text(textwrap.dedent(NOTEBOOK))
    (folder / ".azureml").mkdir()
    (folder / ".azureml" / "config.json").write_text(json.dumps({"api_url": airflow_stack.url, "username": "admin"}))
    env = {**airflow_stack.env, "AMLFLOW_PASSWORD": PASSWORDS["admin"]}
    args = [postgres.host, str(postgres.port), postgres.database, postgres.user, postgres.password]
    done = subprocess.run(
        [sys.executable, "notebook.py", *args, azurite.endpoint, ACCOUNT_KEY],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return notebook_result(done.stdout), done.stdout + done.stderr


def test_get_else_register_works_and_a_typo_is_azure_mls_error(transfer_notebook):
    result, output = transfer_notebook
    assert result["typo"].startswith("Could not find datastore: MyPostgreSqlDatastor (")
    assert "Registered datastore with name: MyPostgreSqlDatastore" in output
    assert result["found"] == ["mypostgresqldatastore", "AzurePostgreSql"]


def test_a_query_becomes_one_csv_file_on_blob_committed_with_a_manifest(transfer_notebook, azurite):
    result, _output = transfer_notebook
    assert result["status"] == "Finished", result
    container = azurite.container(CONTAINER)
    data = container.download_blob("testdata/query.csv").readall().decode()
    assert data == 'id,item,note\r\n1,widget,"says ""hi"", twice"\r\n3,doohickey,"line one\nline two"\r\n'
    manifest = json.loads(container.download_blob("testdata/query.csv.manifest.json").readall())
    assert [(entry["path"], entry["size"]) for entry in manifest["files"]] == [("query.csv", len(data.encode()))]


def test_a_table_goes_to_a_folder_as_its_reference_name(transfer_notebook, azurite):
    container = azurite.container(CONTAINER)
    data = container.download_blob("testdata/tables/psql_table_data_ref.csv").readall().decode()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows == [
        ["id", "item", "amount", "note"],
        ["1", "widget", "2.50", 'says "hi", twice'],
        ["2", "gadget", "0.75", ""],
        ["3", "doohickey", "10.00", "line one\nline two"],
    ]
    assert container.get_blob_client("testdata/tables.manifest.json").exists()


def test_the_step_output_is_the_blob_location_and_no_secret_is_logged(transfer_notebook, airflow_stack, postgres):
    result, output = transfer_notebook
    runs = airflow_stack.request("GET", f"/api/v2/dags/{result['dag']}/dagRuns")[1]["dag_runs"]
    run_id = runs[0]["dag_run_id"]
    location = airflow_stack.xcom(result["dag"], run_id, "transfer_psql_to_blob", "_data_transfer_output")
    assert location["uri"] == f"wasbs://{CONTAINER}@{ACCOUNT}.blob.core.windows.net/testdata/query.csv"
    log = airflow_stack.task_log(result["dag"], run_id, "transfer_psql_to_blob")
    assert "Exported 2 rows" in log and "postgres://127.0.0.1" in log
    for secret in (postgres.password, ACCOUNT_KEY):
        assert secret not in log and secret not in output and secret not in json.dumps(location)
