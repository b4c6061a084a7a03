"""Blob storage faults during a step's upload: a short outage is ridden out by retries; a dead store fails
the step with a message naming the container and path, no committed output and no credential."""

from __future__ import annotations

import hashlib
import os
import re
import textwrap

import pytest

from amlflow.storage import get_backend
from amlflow.storage.location import output_path
from amlflow.storage.registry import forget_backends
from tests.conftest import DAGS
from tests.fixtures.azurite import ACCOUNT_KEY
from tests.pipelines import captured_output, output_location, run_dag, task_states

SIZE_MIB = 12
#: Small blocks, so one output file is an upload of many requests that a fault can interrupt.
SMALL_BLOCKS = {"max_single_put_size": 1 << 20, "max_block_size": 1 << 20}

SCRIPTS = {
    "write_big.py": """
        import hashlib, os, sys
        out, mib = sys.argv[1], int(sys.argv[2])
        os.makedirs(out, exist_ok=True)
        block = hashlib.sha512(b"amlflow").digest() * 16384  # 1 MiB
        with open(os.path.join(out, "big.bin"), "wb") as handle:
            for i in range(mib):
                handle.write(block[i:] + block[:i])
    """,
    "check_big.py": """
        import hashlib, os, sys
        data = open(os.path.join(sys.argv[1], "big.bin"), "rb").read()
        assert hashlib.sha256(data).hexdigest() == sys.argv[2], "the output read back differs"
    """,
}

PIPELINES = """
from amlflow.core import Datastore, Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
for store in ("flakystore", "deadstore"):
    big = PipelineData("big", datastore=Datastore(ws, store))
    write = PythonScriptStep("write_big.py", arguments=[big, SIZE], outputs=[big],
                             source_directory="blob_faults_scripts")
    check = PythonScriptStep("check_big.py", arguments=[big, "EXPECTED"], inputs=[big],
                             source_directory="blob_faults_scripts")
    Pipeline(ws, [write, check]).publish(name="blob_faults_" + store)
"""


def expected_sha256() -> str:
    block = hashlib.sha512(b"amlflow").digest() * 16384
    return hashlib.sha256(b"".join(block[i:] + block[:i] for i in range(SIZE_MIB))).hexdigest()


@pytest.fixture(scope="module")
def dag_file(dags_folder):
    scripts = os.path.join(DAGS, "blob_faults_scripts")
    os.makedirs(scripts, exist_ok=True)
    for name, body in SCRIPTS.items():
        with open(os.path.join(scripts, name), "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("blob_faults_scripts/\n")
    path = os.path.join(DAGS, "blob_faults_pipelines.py")
    with open(path, "w") as handle:
        handle.write(PIPELINES.replace("EXPECTED", expected_sha256()).replace("SIZE", str(SIZE_MIB)))
    return path


def block_put(container: str, dag_id: str) -> str:
    """The access-log line of a block of the step's output being uploaded."""
    return rf'"PUT /devstoreaccount1/{container}/amlflow/{dag_id}/[^ ]*big\.bin\?[^ ]*comp=block'


def test_a_short_outage_during_an_upload_is_ridden_out_by_retries(azurite, dag_file, monkeypatch):
    azurite.container("faults-flaky")
    azurite.wait_saved("faults-flaky")  # the container must survive the kill below
    monkeypatch.setenv("AIRFLOW_CONN_FLAKYSTORE", azurite.connection_json("faults-flaky", **SMALL_BLOCKS))
    forget_backends()
    # default retries: 5, after 1, 2, 4, 8 and 16 s; the outage (3 s and Azurite's restart) fits in the first few
    fault = azurite.stop_on_request(block_put("faults-flaky", "blob_faults_flakystore"), for_seconds=3)
    with fault as outage, captured_output() as logs:
        run = run_dag(dag_file, "blob_faults_flakystore")
    assert outage.is_set(), "Azurite was not stopped during the upload"
    assert task_states(run) == {"write_big.py": "success", "check_big.py": "success"}
    assert re.search(
        r"upload failed \(.*\): datastore 'flakystore', container 'faults-flaky', path '.*big\.bin'; "
        r"retry 1 of 5",
        logs[0],
    )
    location = output_location(run, "write_big.py", "big")
    manifest = get_backend("flakystore").read_manifest(location.path)
    assert manifest.fingerprint == location.fingerprint and manifest.files[0]["sha256"] == expected_sha256()
    forget_backends()


def test_a_dead_store_fails_the_step_naming_container_and_path_with_nothing_committed(
    azurite_factory, dag_file, monkeypatch
):
    dead = azurite_factory()
    dead.container("faults-dead")
    sas = dead.account_sas()
    monkeypatch.setenv("AIRFLOW_CONN_DEADSTORE", dead.sas_connection_json("faults-dead", sas, **SMALL_BLOCKS))
    monkeypatch.setenv("AIRFLOW__AMLFLOW__TRANSFER_RETRIES", "2")
    monkeypatch.setenv("AIRFLOW__AMLFLOW__TRANSFER_RETRY_BACKOFF", "0.2")
    forget_backends()
    with dead.stop_on_request(block_put("faults-dead", "blob_faults_deadstore")) as death, captured_output() as logs:
        run = run_dag(dag_file, "blob_faults_deadstore")
    assert death.is_set(), "Azurite was not stopped during the upload"
    assert task_states(run) == {"write_big.py": "failed", "check_big.py": "upstream_failed"}
    path = output_path(run.dag_id, run.run_id, "write_big.py", "big")
    assert (
        f"upload failed after 3 attempts: datastore 'deadstore', container 'faults-dead', path '{path}/big.bin'"
        in logs[0]
    )
    # nothing committed: no XCom location, and the manifest was never written (Azurite's own request log)
    assert output_location(run, "write_big.py", "big") is None
    with open(dead.log_path) as handle:
        assert not re.search(r'"PUT [^"]*\.manifest\.json', handle.read())
    signature = next(p for p in sas.split("&") if p.startswith("sig=")).removeprefix("sig=")
    for secret in (sas, signature, ACCOUNT_KEY):
        assert secret not in logs[0]
    forget_backends()
