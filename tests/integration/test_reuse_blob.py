"""A DataReference on Azure Blob (Azurite): new content of the blob re-runs its reader, as on a local datastore.

The blob's listing (name, size, ETag/MD5) is part of the step's fingerprint; Azure ML would reuse the
earlier run here, because the reference's datastore and path did not change.
"""

from __future__ import annotations

import os
import textwrap

import pytest

from amlflow.storage.registry import forget_backends
from tests.conftest import DAGS
from tests.pipelines import local_output, output_location, passing_to_scripts, run_dag, task_states

CONTAINER = "reuse-blob-data"
DAG_FILE = os.path.join(DAGS, "reuse_blob_pipeline.py")
SCRIPTS = os.path.join(DAGS, "reuse_blob_scripts")

SCRIPT = """
    import os, sys
    with open(os.environ["REUSE_BLOB_COUNTER"], "a") as counter:
        counter.write("copy.py\\n")
    os.makedirs(sys.argv[2], exist_ok=True)
    open(os.path.join(sys.argv[2], "copy.txt"), "w").write(open(sys.argv[1]).read())
"""

PIPELINE = """
from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
source = DataReference(Datastore(ws, "reuseblob"), data_reference_name="source", path_on_datastore="in/data.txt")
copy = PipelineData("copy")
step = PythonScriptStep("copy.py", arguments=[source, copy], inputs=[source], outputs=[copy],
                        source_directory="reuse_blob_scripts")
Pipeline(ws, [step]).publish(name="reuse_blob")
"""


@pytest.fixture(scope="module")
def blob(azurite, dags_folder, tmp_path_factory):
    """The datastore ``reuseblob`` is an Azurite container; the pipeline reads ``in/data.txt`` from it."""
    counter = tmp_path_factory.mktemp("reuse_blob") / "executed.txt"
    os.makedirs(SCRIPTS, exist_ok=True)
    with open(os.path.join(SCRIPTS, "copy.py"), "w") as handle:
        handle.write(textwrap.dedent(SCRIPT))
    with open(DAG_FILE, "w") as handle:
        handle.write(PIPELINE)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("reuse_blob_scripts/\n")
    container = azurite.container(CONTAINER)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_CONN_REUSEBLOB", azurite.connection_json(CONTAINER))
        patch.setenv("REUSE_BLOB_COUNTER", str(counter))
        for name, value in passing_to_scripts("REUSE_BLOB_COUNTER").items():
            patch.setenv(name, value)
        forget_backends()
        yield container, counter
    forget_backends()


def run_counted(counter) -> tuple[object, int]:
    counter.write_text("")
    run = run_dag(DAG_FILE, "reuse_blob")
    assert task_states(run) == {"copy.py": "success"}
    return run, len(counter.read_text().split())


def copied(run) -> str:
    with open(os.path.join(local_output(output_location(run, "copy.py", "copy")), "copy.txt")) as handle:
        return handle.read()


def test_new_content_of_a_blob_reruns_its_reader_and_unchanged_content_does_not(blob):
    container, counter = blob
    container.upload_blob("in/data.txt", b"first", overwrite=True)
    first, executed = run_counted(counter)
    assert executed == 1 and copied(first) == "first"

    again, executed = run_counted(counter)
    assert executed == 0
    assert output_location(again, "copy.py", "copy") == output_location(first, "copy.py", "copy")

    container.upload_blob("in/data.txt", b"third", overwrite=True)  # same name, same size, new bytes
    changed, executed = run_counted(counter)
    assert executed == 1 and copied(changed) == "third"
