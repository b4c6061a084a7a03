"""Datastore look-ups and registrations: Azure ML's signatures, defaults and errors, and the Airflow
connection each kind of datastore becomes (written to the session's metadata database)."""

from __future__ import annotations

import json
import logging

import pytest

from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.data.sql_data_reference import SqlDataReference
from amlflow.exceptions import DatastoreError, UserErrorException
from amlflow.pipeline.core import Pipeline, dag_file
from amlflow.pipeline.steps import DataTransferStep, PythonScriptStep
from amlflow.storage.registry import forget_backends, get_backend
from tests.conftest import local_datastores
from tests.pipelines import parse_offline


@pytest.fixture
def ws(airflow_db) -> Workspace:
    forget_backends()
    yield Workspace()
    forget_backends()


def connection(conn_id: str):
    from airflow.models import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.query(Connection).filter(Connection.conn_id == conn_id).one()
        session.expunge(found)
        return found


def test_an_unregistered_name_raises_azure_mls_error_so_get_else_register_works(ws):
    with pytest.raises(UserErrorException, match=r"^Could not find datastore: mypsql_store \(there is no Airflow"):
        Datastore.get(ws, "mypsql_store")
    with pytest.raises(UserErrorException, match="Could not find datastore: mypsql_store"):
        Datastore(ws, "mypsql_store")
    # The notebooks' cell, unchanged:
    try:
        store = Datastore.get(ws, "MyPsql_Store")
    except UserErrorException:
        store = Datastore.register_azure_postgre_sql(
            workspace=ws,
            datastore_name="MyPsql_Store",
            server_name="mypsql",
            database_name="sales",
            user_id="reader",
            user_password="pw-Zq81",
            skip_validation=True,
        )
    # Azure ML lowercases the name (with its warning); a look-up finds it under either spelling.
    assert (store.name, store.datastore_type) == ("mypsql_store", "AzurePostgreSql")
    again = Datastore.get(ws, "MyPsql_Store")
    assert (again.name, again.datastore_type) == ("mypsql_store", "AzurePostgreSql")
    assert get_backend("MyPsql_Store").kind == "sql"


def test_the_defaults_a_folder_and_an_fs_connection_are_registered(ws, monkeypatch, tmp_path):
    assert Datastore(ws, "workspaceblobstore").name == "workspaceblobstore"
    assert Datastore(ws, "workspacefilestore").datastore_type == "Local"
    ws.set_default_datastore("team_default")
    assert Datastore(ws, "team_default").name == "team_default"  # the workspace's default is not looked up
    local_datastores("existing_folder")
    assert Datastore.get(ws, "existing_folder").datastore_type == "Local"
    monkeypatch.setenv("AIRFLOW_CONN_SCRATCH_FS", json.dumps({"conn_type": "fs", "extra": {"path": str(tmp_path)}}))
    assert Datastore.get(ws, "scratch_fs").datastore_type == "Local"
    with pytest.raises(UserErrorException, match="is not a datastore name"):
        Datastore.get(ws, "../etc")


def test_nothing_is_checked_while_a_dag_file_is_parsed(tmp_path):
    dag = tmp_path / "unchecked.py"
    dag.write_text(
        "from amlflow.core import Datastore, Workspace\n"
        "from amlflow.data.sql_data_reference import SqlDataReference\n"
        "from amlflow.data.data_reference import DataReference\n"
        "from amlflow.pipeline.core import Pipeline\n"
        "from amlflow.pipeline.steps import DataTransferStep\n"
        "ws = Workspace()\n"
        "sql = SqlDataReference(Datastore.get(ws, 'never_registered_sql'), 'q', sql_query='SELECT 1')\n"
        "dest = DataReference(Datastore(ws, 'never_registered_blob'), 'dest', 'out')\n"
        "step = DataTransferStep('export', source_data_reference=sql, destination_data_reference=dest,\n"
        "                        compute_target='adf', destination_reference_type='file')\n"
        "Pipeline(ws, [step]).publish(name='unchecked_names')\n"
    )
    assert parse_offline(str(dag)) == {"unchecked_names": ["export"]}


def test_a_notebook_asks_the_deployment_it_names_and_says_when_it_cannot(ws, monkeypatch):
    from amlflow.exceptions import AuthenticationException
    from scripts.stack import free_port

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AMLFLOW_API_URL", url)
    monkeypatch.setenv("AMLFLOW_USERNAME", "someone")
    monkeypatch.setenv("AMLFLOW_PASSWORD", "pw")
    local_datastores("here_only")  # this machine's folder does not count: the deployment is asked
    expected = f"cannot check whether datastore 'here_only' is registered on the deployment at {url}: could not reach"
    with pytest.raises(AuthenticationException, match=expected) as caught:
        Datastore.get(Workspace(), "here_only")
    assert not isinstance(caught.value, UserErrorException), "an unreachable deployment is not 'not registered'"


def test_blob_and_adls_gen2_registrations_write_wasb_connections(ws):
    blob = Datastore.register_azure_blob_container(
        ws, "reg_blob", "data", "acct", account_key="key-Zm9v", protocol="http", endpoint="example.net",
        skip_validation=True,
    )  # fmt: skip
    conn = connection("reg_blob")
    assert (blob.datastore_type, conn.conn_type, conn.login) == ("AzureBlob", "wasb", "acct")
    assert conn.host == "http://acct.blob.example.net"
    azure_mls = r"^Tenant id, client id and client secret have to be defined together\.$"
    with pytest.raises(UserErrorException, match=azure_mls):
        Datastore.register_azure_data_lake_gen2(ws, "reg_gen2", "fs1", "lakeacct", tenant_id="t", client_id="c")
    gen2 = Datastore.register_azure_data_lake_gen2(
        ws, "reg_gen2", filesystem="fs1", account_name="lakeacct", tenant_id="tenant-1", client_id="client-1",
        client_secret="secret-Zm9v", authority_url="https://login.example.com", skip_validation=True,
    )  # fmt: skip
    conn = connection("reg_gen2")
    assert gen2.datastore_type == "AzureDataLakeGen2"
    assert (conn.conn_type, conn.host, conn.login, conn.password) == (
        "wasb",
        "https://lakeacct.blob.core.windows.net",
        "client-1",
        "secret-Zm9v",
    )
    assert conn.extra_dejson == {
        "container_name": "fs1",
        "tenant_id": "tenant-1",
        "client_secret_auth_config": {"authority": "https://login.example.com"},
    }
    backend = get_backend("reg_gen2")
    # The account is the storage account (not the service principal's client id), the container the filesystem.
    assert backend.uri("raw/a.csv") == "wasbs://fs1@lakeacct.blob.core.windows.net/raw/a.csv"
    from azure.identity import ClientSecretCredential

    client = backend.client
    assert isinstance(client.credential, ClientSecretCredential)
    assert client.url.startswith("https://lakeacct.blob.core.windows.net/fs1")


def test_adls_gen1_is_refused_with_what_to_use_instead(ws):
    with pytest.raises(UserErrorException) as caught:
        Datastore.register_azure_data_lake(ws, "gen1", "old", tenant_id="t", client_id="c", client_secret="s")
    assert "retired by Microsoft on 2024-02-29" in str(caught.value)
    assert "register_azure_data_lake_gen2" in str(caught.value)


def test_file_share_registration_writes_an_azure_fileshare_connection(ws):
    Datastore.register_azure_file_share(ws, "reg_share", "team", "acct", account_key="key-Zm9v", skip_validation=True)
    conn = connection("reg_share")
    assert (conn.conn_type, conn.login, conn.password, conn.extra_dejson) == (
        "azure_fileshare",
        "acct",
        "key-Zm9v",
        {"share_name": "team"},
    )
    Datastore.register_azure_file_share(
        ws, "reg_share_sas", "team", "acct", sas_token="sv=1&sig=abc", endpoint="http://127.0.0.1:1/acct",
        skip_validation=True,
    )  # fmt: skip
    extra = connection("reg_share_sas").extra_dejson
    assert extra["connection_string"] == (
        "DefaultEndpointsProtocol=https;AccountName=acct;SharedAccessSignature=sv=1&sig=abc;"
        "FileEndpoint=http://127.0.0.1:1/acct;"
    )
    assert get_backend("reg_share").uri("a/b.csv") == "https://acct.file.core.windows.net/team/a/b.csv"


def test_sql_registrations_write_provider_connections_with_azure_mls_defaults_and_errors(ws):
    with pytest.raises(UserErrorException, match=r"^User password is required for PostreSQL\.$"):
        Datastore.register_azure_postgre_sql(ws, "pg", "srv", "db", "user", None)
    with pytest.raises(UserErrorException, match=r"^Database name is required for My SQL\.$"):
        Datastore.register_azure_my_sql(ws, "my", "srv", None, "user", "pw")
    with pytest.raises(TypeError, match="unexpected keyword argument 'validate'"):
        Datastore.register_azure_my_sql(ws, "my", "srv", "db", "user", "pw", validate=False)
    with pytest.raises(UserErrorException, match="SQL authentication only"):
        Datastore.register_azure_sql_database(ws, "az", "srv", "db", tenant_id="t", client_id="c", client_secret="s")

    Datastore.register_azure_postgre_sql(ws, "reg_pg", "srv", "sales", "reader", "pw-1", skip_validation=True)
    Datastore.register_azure_my_sql(ws, "reg_my", "db.internal", "sales", "reader", "pw-2", port_number="3307",
                                    skip_validation=True)  # fmt: skip
    sql = Datastore.register_azure_sql_database(ws, "reg_az", "srv", "sales", username="reader", password="pw-3",
                                                skip_validation=True)  # fmt: skip
    found = {name: connection(name) for name in ("reg_pg", "reg_my", "reg_az")}
    assert {name: (c.conn_type, c.host, c.port, c.schema, c.login, c.password) for name, c in found.items()} == {
        "reg_pg": ("postgres", "srv.postgres.database.azure.com", 5432, "sales", "reader", "pw-1"),
        "reg_my": ("mysql", "db.internal", 3307, "sales", "reader", "pw-2"),
        "reg_az": ("mssql", "srv.database.windows.net", 1433, "sales", "reader", "pw-3"),
    }
    assert found["reg_pg"].extra_dejson == {"sslmode": "require"}  # enforce_ssl=True, Azure ML's default
    assert sql.datastore_type == "AzureSqlDatabase"


def test_registering_again_keeps_same_settings_refuses_others_and_never_shows_them(ws):
    register = Datastore.register_azure_postgre_sql
    register(ws, "reg_again", "srv", "db", "user", "first-pw-Zq", skip_validation=True)
    register(ws, "reg_again", "srv", "db", "user", "first-pw-Zq", skip_validation=True)
    with pytest.raises(UserErrorException) as caught:
        register(ws, "reg_again", "srv", "db", "user", "second-pw-Zq", skip_validation=True)
    assert "Another datastore with the same name already exists" in str(caught.value)
    assert "pw-Zq" not in str(caught.value)
    register(ws, "reg_again", "srv", "db", "user", "second-pw-Zq", overwrite=True, skip_validation=True)
    assert connection("reg_again").password == "second-pw-Zq"


def test_a_failed_validation_names_the_datastore_not_the_password(ws):
    from scripts.stack import free_port

    with pytest.raises(DatastoreError) as caught:
        Datastore.register_azure_postgre_sql(
            ws, "reg_unreachable", "127.0.0.1", "db", "user", "pw-Unreachable-91", port_number=str(free_port()),
            enforce_ssl=False,
        )  # fmt: skip
    assert "datastore 'reg_unreachable': cannot connect" in str(caught.value)
    assert "pw-Unreachable-91" not in str(caught.value)


def test_dbfs_is_for_databricks_steps_only(ws, caplog):
    store = Datastore.register_dbfs(ws, "reg_dbfs")
    assert (store.datastore_type, connection("reg_dbfs").conn_type) == ("DBFS", "dbfs")
    backend = get_backend("reg_dbfs")
    assert backend.uri("in/table.csv") == "dbfs:/in/table.csv"
    with pytest.raises(DatastoreError, match="can only be used to create DataReference as input and PipelineData"):
        backend.list_files("in")
    with caplog.at_level(logging.WARNING):
        assert Datastore.register_dbfs(ws, "reg_dbfs").name == "reg_dbfs"  # always overwrites, as in Azure ML


def test_sql_data_reference_is_azure_mls_and_only_a_data_transfer_source(ws, tmp_path):
    local_datastores("sqlref_dest")
    Datastore.register_azure_my_sql(ws, "sqlref_my", "srv", "db", "u", "p", skip_validation=True)
    store = Datastore.get(ws, "sqlref_my")
    ref = SqlDataReference(store, sql_table="sales.orders")
    assert ref.data_reference_name == "sqlref_my" and ref.query() == "SELECT * FROM sales.orders"
    for method in ("path", "as_mount", "as_download", "as_upload"):
        with pytest.raises(NotImplementedError, match="SqlDataReference does not support"):
            getattr(ref, method)()
    dest = DataReference(Datastore(ws, "sqlref_dest"), "dest", "exports")
    (tmp_path / "s.py").write_text("")
    both = SqlDataReference(store, "both", sql_table="t", sql_query="SELECT 1")
    procedure = SqlDataReference(store, "proc", sql_stored_procedure="refresh")
    script = PythonScriptStep("s.py", inputs=[ref], source_directory=str(tmp_path))
    steps = [
        DataTransferStep("t1", source_data_reference=both, destination_data_reference=dest, compute_target="adf"),
        DataTransferStep("t2", source_data_reference=procedure, destination_data_reference=dest, compute_target="adf"),
    ]
    assert Pipeline(ws, [*steps, script]).validate() == [
        "step 't1', field 'source_data_reference': give exactly one of sql_table and sql_query, not sql_table and "
        "sql_query",
        "step 't2', field 'source_data_reference': sql_stored_procedure is not supported by amlflow: give sql_query "
        "(for example 'SELECT * FROM my_function(...)') or sql_table",
        "step 's.py', field 'inputs': $AZUREML_DATAREFERENCE_sqlref_my (datastore='sqlref_my', sql_table="
        "'sales.orders'): a SqlDataReference can only be the source of a DataTransferStep",
    ]
    with pytest.raises(UserErrorException, match="must be a DataReference"):
        DataTransferStep("t3", source_data_reference=dest, destination_data_reference=ref, compute_target="adf")


def test_a_sql_source_travels_through_yaml_to_the_operator(ws, tmp_path):
    from amlflow.factory import yaml_writer
    from amlflow.factory.yaml_loader import read_pipeline

    local_datastores("yaml_dest")
    Datastore.register_azure_postgre_sql(ws, "yaml_pg", "srv", "db", "u", "p", skip_validation=True)
    query = SqlDataReference(Datastore(ws, "yaml_pg"), "orders", sql_query="SELECT id FROM orders WHERE x = 'a'")
    dest = DataReference(Datastore(ws, "yaml_dest"), "dest", "exports/orders.csv")
    step = DataTransferStep("export", source_data_reference=query, destination_data_reference=dest,
                            compute_target="adf", destination_reference_type="file")  # fmt: skip
    document = yaml_writer.named(yaml_writer.pipeline_document(Pipeline(ws, [step]), lambda f: f), "Sql_Export")
    assert document["data_references"]["orders"] == {"datastore": "yaml_pg", "sql_query": query.sql_query}
    path = tmp_path / "Sql_Export.yaml"
    path.write_text(yaml_writer.dump(document))
    with dag_file():
        loaded = read_pipeline(str(path))
    (source,) = loaded.pipeline.steps[0].inputs
    assert isinstance(source, SqlDataReference) and source.sql_query == query.sql_query
    task = loaded.pipeline.as_dag("sql_export").get_task("export")
    assert task.inputs == [
        {"name": "orders", "kind": "SqlDataReference", "datastore": "yaml_pg", "sql": query.sql_query}
    ]
