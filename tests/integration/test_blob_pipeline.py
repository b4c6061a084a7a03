"""The seed's example pipeline with its default datastore on Azure Blob (Azurite), and blob DataReferences.

``workspaceblobstore`` becomes a ``wasb`` connection (``AIRFLOW_CONN_WORKSPACEBLOBSTORE``) for this
module only: the input data is uploaded with ``upload_files`` into the container, PipelineData travel
between steps through it, and the XCom rows carry only ``wasbs://`` locations.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from amlflow.storage import get_backend
from amlflow.storage.registry import forget_backends
from tests.conftest import DAGS, HOME, ROOT
from tests.fixtures.azurite import ACCOUNT, ACCOUNT_KEY
from tests.pipelines import captured_output, output_location, raw_xcom, run_dag, task_states

CONTAINER = "azureml-blobstore-example"
EXAMPLE = os.path.join(DAGS, "blob_example")
URI_BASE = f"wasbs://{CONTAINER}@{ACCOUNT}.blob.core.windows.net/"


@pytest.fixture(scope="module")
def blob_default_datastore(azurite, dags_folder):
    """``workspaceblobstore`` (the default datastore) is an Azurite container while this module runs,
    reached with the account key; ``sasblobstore`` is the same container reached with a SAS token."""
    azurite.container(CONTAINER)
    sas = azurite.account_sas()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_WORKSPACEBLOBSTORE", azurite.connection_json(CONTAINER))
        patch.setenv("AIRFLOW_CONN_SASBLOBSTORE", azurite.sas_connection_json(CONTAINER, sas))
        forget_backends()
        yield azurite, sas
    forget_backends()


@pytest.fixture(scope="module")
def example(blob_default_datastore):
    """The example's run and everything its tasks logged."""
    # In a folder of its own: the local-datastore example test installs the same files at the top.
    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(EXAMPLE, "compare_models"))
    dag_file = shutil.copy(os.path.join(ROOT, "dags", "compare_models.py"), EXAMPLE)
    subprocess.run([sys.executable, os.path.join(EXAMPLE, "compare_models", "upload_data.py")], check=True)
    with captured_output() as logs:
        run = run_dag(dag_file, "Compare_Models", {"pipeline_arg": 1})
    yield run, logs[0]
    # Its DAG id is the example's: leave no second file defining it to the modules that follow.
    shutil.rmtree(EXAMPLE)


@pytest.fixture(scope="module")
def example_run(example):
    return example[0]


def blob_names(azurite, prefix: str) -> list[str]:
    return sorted(b.name for b in azurite.container(CONTAINER).list_blobs(name_starts_with=prefix))


def test_example_pipeline_runs_with_its_default_datastore_on_blob(example_run):
    assert task_states(example_run) == {"train.py": "success", "extract.py": "success", "compare.py": "success"}


def test_upload_files_put_the_input_in_the_container_and_outputs_stay_off_the_local_disk(example_run, azurite):
    assert blob_names(azurite, "20newsgroups/") == ["20newsgroups/20news.csv"]
    models = output_location(example_run, "train.py", "processed_data1")
    assert not os.path.exists(os.path.join(HOME, "datastores", "workspaceblobstore", models.path))


def test_pipeline_data_is_handed_between_steps_through_the_container(example_run, azurite):
    models = output_location(example_run, "train.py", "processed_data1")
    assert models.uri == URI_BASE + models.path
    # the producer's files and its manifest are blobs; the manifest was written last, and is complete
    assert blob_names(azurite, models.path + "/") == [f"{models.path}/baseline.json", f"{models.path}/linear.json"]
    manifest = get_backend("workspaceblobstore").read_manifest(models.path)
    assert manifest.fingerprint == models.fingerprint
    # the consumer read exactly those bytes (compare.py reports the sha256 of each file it read)
    report = json.loads(
        get_backend("workspaceblobstore").read_bytes(
            output_location(example_run, "compare.py", "out_data3").path + "/report.json"
        )
    )
    assert report["inputs"]["comp_data1"]["files"] == {f["path"]: f["sha256"] for f in manifest.files}
    assert report["ranking"] == ["linear"]


def test_xcom_rows_carry_only_the_wasbs_location(example_run):
    for task_id, key in (("train.py", "processed_data1"), ("extract.py", "processed_data2")):
        raw = raw_xcom(example_run, task_id, key)
        value = json.loads(raw)
        assert value["uri"].startswith(URI_BASE + "amlflow/Compare_Models/")
        assert value["datastore"] == "workspaceblobstore"
        assert len(raw) < 600 and ACCOUNT_KEY not in raw


# -- DataReference modes, a prefix of many files, upload mode, offloaded XCom values ----------------------
SCRIPTS = {
    "count.py": """
        import hashlib, json, os, sys
        src, out = sys.argv[1], sys.argv[2]
        files = {}
        for root, _dirs, names in os.walk(src):
            for name in names:
                full = os.path.join(root, name)
                files[os.path.relpath(full, src)] = hashlib.sha256(open(full, "rb").read()).hexdigest()
        os.makedirs(out, exist_ok=True)
        json.dump({"path": src, "env": os.environ["AZUREML_DATAREFERENCE_many_files"], "files": files},
                  open(os.path.join(out, "listing.json"), "w"))
    """,
    "single.py": """
        import os, sys
        src, upload = sys.argv[1], sys.argv[2]
        assert os.path.join("data", "one.txt") in src, src  # path_on_compute
        text = open(src).read()
        os.makedirs(os.path.join(upload, "sub"), exist_ok=True)
        open(os.path.join(upload, "result.txt"), "w").write(text.upper())
        open(os.path.join(upload, "sub", "kept.txt"), "w").write("written by the step")
    """,
}

PIPELINE = """
from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
sas_store = Datastore(ws, "sasblobstore")
many = DataReference(store, data_reference_name="many_files", path_on_datastore="refs/many")
single = DataReference(store, data_reference_name="one_file", path_on_datastore="refs/one.txt").as_download(
    path_on_compute="data/one.txt"
)
results = DataReference(sas_store, data_reference_name="results", path_on_datastore="refs/results").as_upload()
listing = PipelineData("listing")
count = PythonScriptStep("count.py", arguments=[many, listing], inputs=[many], outputs=[listing],
                         source_directory="blob_refs_scripts")
write = PythonScriptStep("single.py", arguments=[single, results], inputs=[single, results],
                         source_directory="blob_refs_scripts")
Pipeline(ws, [count, write]).publish(name="blob_refs")
"""

OFFLOAD = """
from datetime import datetime

from airflow.sdk import DAG, task

with DAG("blob_xcom_offload", schedule=None, start_date=datetime(2026, 1, 1)):

    @task
    def produce():
        return {"rows": ["row %d" % i for i in range(20000)]}

    @task
    def consume(value):
        assert value["rows"][-1] == "row 19999", value["rows"][-1]
        return len(value["rows"])

    consume(produce())
"""


@pytest.fixture(scope="module")
def refs_run(blob_default_datastore, tmp_path_factory):
    azurite, _sas = blob_default_datastore
    scripts = os.path.join(DAGS, "blob_refs_scripts")
    os.makedirs(scripts, exist_ok=True)
    for name, body in SCRIPTS.items():
        with open(os.path.join(scripts, name), "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("blob_refs_scripts/\n")
    dag_file = os.path.join(DAGS, "blob_refs_pipeline.py")
    with open(dag_file, "w") as handle:
        handle.write(PIPELINE)
    container = azurite.container(CONTAINER)
    expected = {f"part-{i:03d}/{i}.txt": f"line {i}\n".encode() * (i + 1) for i in range(250)}
    from amlflow.core import Datastore, Workspace

    src = tmp_path_factory.mktemp("many")
    for rel, data in expected.items():
        os.makedirs(src / os.path.dirname(rel), exist_ok=True)
        (src / rel).write_bytes(data)
    Datastore(Workspace(), "workspaceblobstore").upload(str(src), target_path="refs/many")
    container.upload_blob("refs/one.txt", b"hello blob", overwrite=True)
    # results/sub/kept.txt exists already: overwrite=False keeps it, result.txt is new
    container.upload_blob("refs/results/sub/kept.txt", b"from before", overwrite=True)
    with captured_output() as logs:
        run = run_dag(dag_file, "blob_refs")
    return run, expected, logs[0]


def test_a_prefix_of_many_files_is_mounted_as_a_folder(refs_run):
    run, expected, _logs = refs_run
    assert task_states(run) == {"count.py": "success", "single.py": "success"}
    import hashlib

    listing = json.loads(
        get_backend("workspaceblobstore").read_bytes(output_location(run, "count.py", "listing").path + "/listing.json")
    )
    assert listing["files"] == {rel: hashlib.sha256(data).hexdigest() for rel, data in expected.items()}
    assert listing["env"] == listing["path"]


def test_download_mode_puts_a_single_blob_at_path_on_compute(refs_run):
    run, _expected, _logs = refs_run
    assert task_states(run)["single.py"] == "success"  # its script checks the path_on_compute
    results = get_backend("workspaceblobstore")
    assert results.read_bytes("refs/results/result.txt") == b"HELLO BLOB"


def test_upload_mode_uploads_what_the_step_wrote_and_keeps_existing_blobs(refs_run):
    backend = get_backend("workspaceblobstore")
    assert [f.path for f in backend.list_files("refs/results")] == [
        "refs/results/result.txt",
        "refs/results/sub/kept.txt",
    ]
    assert backend.read_bytes("refs/results/sub/kept.txt") == b"from before"


def test_large_xcom_values_are_offloaded_to_the_blob_default_datastore(blob_default_datastore):
    azurite, _sas = blob_default_datastore
    dag_file = os.path.join(DAGS, "blob_xcom_offload.py")
    with open(dag_file, "w") as handle:
        handle.write(OFFLOAD)
    run = run_dag(dag_file, "blob_xcom_offload")
    assert task_states(run) == {"produce": "success", "consume": "success"}
    stored = json.loads(raw_xcom(run, "produce", "return_value"))
    assert stored["uri"].startswith(URI_BASE + "amlflow/blob_xcom_offload/")
    assert len(blob_names(azurite, stored["path"])) == 1
    assert "row 19999" in get_backend("workspaceblobstore").read_bytes(stored["path"]).decode()


def test_no_account_key_or_sas_token_in_task_logs_rendered_templates_or_xcom(example, refs_run, blob_default_datastore):
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    _azurite, sas = blob_default_datastore
    signature = next(part for part in sas.split("&") if part.startswith("sig="))
    example_run, example_logs = example
    refs, _expected, refs_logs = refs_run
    # the captured text really is the task logs: the steps' own lines and the commits are in it
    assert "trained 2 models" in example_logs and "Output processed_data1 committed" in example_logs
    assert "Input results (upload): 1 of 2 files uploaded to wasbs://" in refs_logs
    stored = []
    with create_session() as session:
        for run in (example_run, refs):
            for model in (RenderedTaskInstanceFields, XComModel):
                rows = session.query(model).filter_by(dag_id=run.dag_id, run_id=run.run_id).all()
                assert rows, model
                stored.extend(json.dumps(getattr(r, "rendered_fields", None) or r.value, default=str) for r in rows)
    for secret in (ACCOUNT_KEY, sas, signature.removeprefix("sig=")):
        for text in (example_logs, refs_logs, *stored):
            assert secret not in text
