"""Azure Files datastores, registered as in Azure ML and used by pipeline steps, against the Azure Files double.

There is no Azure Files emulator (Azurite serves Blob, Queue and Table), so the real SDK, through the azure
provider's ``AzureFileShareHook``, talks HTTP to ``tests/doubles/fileshare.py``.
"""

from __future__ import annotations

import json

import pytest

from tests.fixtures.fileshare_double import ACCOUNT, ACCOUNT_KEY
from tests.pipelines import captured_output, output_location, run_dag, task_states, write_dag_file

pytestmark = pytest.mark.integration

SHARE = "team-share"

SCRIPTS = {
    "shout.py": """
        import os, sys
        source, out = sys.argv[1], sys.argv[2]
        os.makedirs(os.path.join(out, "sub"), exist_ok=True)
        for name in sorted(os.listdir(source)):
            text = open(os.path.join(source, name)).read()
            open(os.path.join(out, "sub", name), "w").write(text.upper())
    """,
    "count.py": """
        import os, sys
        names = sorted(os.listdir(os.path.join(sys.argv[1], "sub")))
        print("READ", ",".join(names))
    """,
}

PIPELINE = """
from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
share = Datastore(ws, "teamshare")
notes = DataReference(share, data_reference_name="notes", path_on_datastore="in/notes").as_download()
loud = PipelineData("loud", datastore=share)
shout = PythonScriptStep("shout.py", arguments=[notes, loud], inputs=[notes], outputs=[loud],
                         source_directory="share_scripts")
count = PythonScriptStep("count.py", arguments=[loud], inputs=[loud], source_directory="share_scripts")
Pipeline(ws, [shout, count]).publish(name="file_share_pipeline")
"""


@pytest.fixture(scope="module")
def registered_share(fileshare_double, airflow_db):
    from amlflow.core import Datastore, Workspace
    from amlflow.storage.registry import forget_backends

    store = Datastore.register_azure_file_share(
        Workspace(),
        "teamshare",
        SHARE,
        ACCOUNT,
        account_key=ACCOUNT_KEY,
        protocol="http",
        endpoint=fileshare_double.url,
        create_if_not_exists=True,
    )
    yield store
    forget_backends()


def test_registering_creates_the_share_and_the_datastore_moves_files(registered_share, fileshare_double, tmp_path):
    from amlflow.core import Datastore, Workspace

    assert SHARE in fileshare_double.shares
    assert Datastore.get(Workspace(), "teamshare").datastore_type == "AzureFile"
    src = tmp_path / "src"
    (src / "deep" / "er").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "deep" / "er" / "b.txt").write_text("beta" * 100_000)
    registered_share.upload(str(src), target_path="upload_case")
    assert fileshare_double.files(SHARE)["upload_case/deep/er/b.txt"] == b"beta" * 100_000
    listed = registered_share.backend.list_files("upload_case")
    assert [(f.path, f.size) for f in listed] == [("upload_case/a.txt", 5), ("upload_case/deep/er/b.txt", 400_000)]
    assert all(f.tag.startswith("etag:") for f in listed)
    assert registered_share.download(str(tmp_path / "back"), prefix="upload_case") == 2
    assert (tmp_path / "back" / "upload_case" / "deep" / "er" / "b.txt").read_text() == "beta" * 100_000
    assert registered_share.backend.list_files("upload_case/a.txt")[0].size == 5  # a file, not a folder
    assert registered_share.backend.list_files("no/such/folder") == []


def test_steps_read_and_write_the_share_and_outputs_are_committed_there(registered_share, fileshare_double):
    dag_file = write_dag_file("file_share_pipeline.py", PIPELINE, SCRIPTS, "share_scripts")
    backend = registered_share.backend
    backend.write_bytes("in/notes/one.txt", b"hello")
    backend.write_bytes("in/notes/two.txt", b"files")

    with captured_output() as logs:
        run = run_dag(dag_file, "file_share_pipeline")
    assert task_states(run) == {"shout.py": "success", "count.py": "success"}
    assert "READ one.txt,two.txt" in logs[0]
    location = output_location(run, "shout.py", "loud")
    assert location.uri == f"https://{ACCOUNT}.file.core.windows.net/{SHARE}/{location.path}"
    files = fileshare_double.files(SHARE)
    assert files[f"{location.path}/sub/one.txt"] == b"HELLO"
    manifest = json.loads(files[f"{location.path}.manifest.json"])
    assert sorted(entry["path"] for entry in manifest["files"]) == ["sub/one.txt", "sub/two.txt"]
    assert not [path for path in files if ".tmp-" in path], "a manifest is renamed into place"
    assert ACCOUNT_KEY not in logs[0]
