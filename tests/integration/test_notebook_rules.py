"""The rules of the notebook route on the real stack: who may send code, what is refused, what runs.

Each refusal is checked for what it leaves behind: nothing in the pipeline bundle.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import time

import pytest
import requests

from amlflow.bundles import layout
from amlflow.factory import yaml_writer
from tests.example_pipeline import DAG_ID as EXAMPLE_DAG_ID
from tests.example_pipeline import installed_example
from tests.fixtures.airflow_stack import PARSE_TIMEOUT
from tests.integration.test_notebook_submit import notebook_env, notebook_result

pytestmark = pytest.mark.integration

SERVICE = "/amlflow/pipelines/v1.0"

#: One step that writes ``{"graph": <its label>}``: two labels are two graphs with different code.
NOTEBOOK = """
import json, sys
from amlflow.core import Experiment, Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

label = sys.argv[1]
with open("step/mark.py", "w") as handle:
    handle.write(
        "import json, os, sys\\n"
        "os.makedirs(sys.argv[1], exist_ok=True)\\n"
        f"json.dump({{'graph': {label!r}}}, open(os.path.join(sys.argv[1], 'mark.json'), 'w'))\\n"
    )
ws = Workspace.from_config()
out = PipelineData("out")
steps = [PythonScriptStep("mark.py", name="mark_" + label, arguments=[out], outputs=[out], source_directory="step")]
run = Experiment(ws, "Concurrent_Exp").submit(Pipeline(ws, steps))
run.wait_for_completion(show_output=False)
run.find_step_run("mark_" + label)[0].get_output_data("out").download("outputs")
print("RESULT " + json.dumps({"run": run.id, "pipeline": run.pipeline_id}))
"""


@pytest.fixture(scope="module")
def stack(airflow_stack):
    return installed_example(airflow_stack)


def bundle_files(stack) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(r, n), stack.stack.pipeline_bundle)
        for r, _d, ns in os.walk(stack.stack.pipeline_bundle)
        for n in ns
    )


def archive(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def put(stack, path: str, user: str, *, data: bytes | None = None, body=None) -> tuple[int, dict]:
    headers = stack.headers(user)
    if data is not None:
        answer = requests.put(stack.url + SERVICE + path, data=data, headers=headers, timeout=120)
    else:
        answer = requests.put(stack.url + SERVICE + path, json=body, headers=headers, timeout=120)
    return answer.status_code, answer.json()


def snapshot_of(files: dict[str, bytes]) -> tuple[str, bytes]:
    """The content hash (as amlflow hashes a snapshot) and an archive of ``files``."""
    import hashlib

    from amlflow.storage.manifest import Manifest

    manifest = Manifest(
        [{"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in sorted(files.items())]
    )
    return manifest.fingerprint, archive(files)


def definition(dag_id: str, content_hash: str, step: dict) -> str:
    document = {
        "steps": [{"kind": "PythonScriptStep", "source_directory": layout.snapshot_reference(content_hash), **step}]
    }
    return yaml_writer.dump(yaml_writer.named(document, dag_id, experiment="Rules_Exp"))


@pytest.mark.parametrize("user", ["viewer", "user"])
def test_only_who_may_edit_dags_and_connections_may_send_code(stack, user):
    before = bundle_files(stack)
    content_hash, data = snapshot_of({"s.py": b"print('hi')\n"})
    status, answer = put(stack, f"/Snapshots/{content_hash}", user, data=data)
    assert status == 403, answer
    status, answer = put(stack, "/PipelineDefinitions/Rules.forbidden", user, body={"Definition": "steps: []"})
    assert status == 403 and "role op or admin" in answer["error"]["message"], answer
    assert bundle_files(stack) == before


@pytest.mark.parametrize(
    ("entries", "links", "message"),
    [
        ({"../evil.txt": b"x"}, None, "entry '../evil.txt' leaves its folder"),
        ({"a/../../evil.txt": b"x"}, None, "leaves its folder"),
        ({"/tmp/evil.txt": b"x"}, None, "entry '/tmp/evil.txt' is not a relative path"),
        ({"ok.py": b"x"}, {"link": "/etc/passwd"}, "entry 'link' is a link"),
    ],
)
def test_an_archive_entry_that_escapes_its_folder_is_refused_with_nothing_written(stack, entries, links, message):
    before = bundle_files(stack)
    data = archive(entries, links)
    content_hash = "0" * 64
    status, answer = put(stack, f"/Snapshots/{content_hash}", "admin", data=data)
    assert status == 400 and message in answer["error"]["message"], answer
    assert bundle_files(stack) == before
    assert not os.path.exists(os.path.join(stack.stack.pipeline_bundle, "evil.txt"))


def test_an_archive_whose_files_do_not_match_its_hash_is_refused(stack):
    _, data = snapshot_of({"s.py": b"print('hi')\n"})
    status, answer = put(stack, f"/Snapshots/{'1' * 64}", "admin", data=data)
    assert status == 400 and "hash to" in answer["error"]["message"]


def test_a_malformed_definition_gets_a_400_naming_step_and_field(stack):
    content_hash, data = snapshot_of({"train.py": b"print('hi')\n"})
    assert put(stack, f"/Snapshots/{content_hash}", "admin", data=data)[0] in (200, 201)
    before = bundle_files(stack)
    cases = {
        "Rules.missing": ({"name": "train"}, "train: missing required field 'script_name'"),
        "Rules.typo": ({"script_name": "train.py", "scirpt": 1}, "unknown field 'scirpt'"),
        "Rules.absent": ({"script_name": "compre.py"}, "compre.py.script_name: script not found at"),
    }
    for dag_id, (step, message) in cases.items():
        status, answer = put(
            stack,
            f"/PipelineDefinitions/{dag_id}",
            "admin",
            body={"Definition": definition(dag_id, content_hash, step)},
        )
        assert status == 400 and message in answer["error"]["message"], (dag_id, answer)
    bad_source = definition("Rules.elsewhere", content_hash, {"script_name": "train.py"}).replace(
        layout.snapshot_reference(content_hash), "/etc"
    )
    status, answer = put(stack, "/PipelineDefinitions/Rules.elsewhere", "admin", body={"Definition": bad_source})
    assert status == 400 and "'/etc' is not a snapshot of this bundle" in answer["error"]["message"]
    assert bundle_files(stack) == before


def test_publishing_a_name_a_dag_file_defines_gets_a_409(stack):
    content_hash, data = snapshot_of({"train.py": b"print('hi')\n"})
    put(stack, f"/Snapshots/{content_hash}", "admin", data=data)
    document = {
        "steps": [
            {
                "kind": "PythonScriptStep",
                "script_name": "train.py",
                "source_directory": layout.snapshot_reference(content_hash),
            }
        ]
    }
    text = yaml_writer.dump(yaml_writer.named(document, f"{EXAMPLE_DAG_ID}.abc", display_name=EXAMPLE_DAG_ID))
    status, answer = put(stack, f"/PipelineDefinitions/{EXAMPLE_DAG_ID}.abc", "admin", body={"Definition": text})
    assert status == 409 and "is defined by the DAG file compare_models.py" in answer["error"]["message"], answer


def test_two_concurrent_submissions_of_different_graphs_each_run_their_own(stack, tmp_path):
    config = json.dumps({"api_url": stack.url, "username": "admin"})
    folders = []
    for label in ("A", "B"):
        folder = tmp_path / label
        (folder / "step").mkdir(parents=True)
        (folder / ".azureml").mkdir()
        (folder / ".azureml" / "config.json").write_text(config)
        (folder / "notebook.py").write_text(textwrap.dedent(NOTEBOOK))
        folders.append((label, folder))
    started = [(label, folder, _start(folder, stack, label)) for label, folder in folders]
    results = {}
    for label, folder, process in started:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, out[-2000:] + err[-2000:]
        results[label] = notebook_result(out)
        marks = [os.path.join(r, n) for r, _d, ns in os.walk(folder / "outputs") for n in ns]
        with open(marks[0]) as handle:
            assert json.load(handle) == {"graph": label}
    assert results["A"]["pipeline"] != results["B"]["pipeline"]
    assert {results[label]["pipeline"].split(".")[0] for label in results} == {"Concurrent_Exp"}


def _start(folder, stack, label: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "notebook.py", label],
        cwd=str(folder),
        env=notebook_env(str(folder), stack),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_with_the_dag_processor_down_a_submit_fails_after_a_bounded_wait_and_leaves_nothing(stack, tmp_path):
    content_hash, data = snapshot_of({"train.py": b"print('hi')\n"})
    put(stack, f"/Snapshots/{content_hash}", "admin", data=data)
    before = bundle_files(stack)
    stack.stack.stop_component("dag-processor")
    try:
        started = time.monotonic()
        text = definition("Rules.unparsed", content_hash, {"script_name": "train.py"})
        status, answer = put(stack, "/PipelineDefinitions/Rules.unparsed", "admin", body={"Definition": text})
        waited = time.monotonic() - started
    finally:
        stack.stack.start_component("dag-processor")
    assert status == 503 and "the dag-processor did not parse pipeline 'Rules.unparsed'" in answer["error"]["message"]
    assert PARSE_TIMEOUT <= waited < PARSE_TIMEOUT + 15
    assert bundle_files(stack) == before
