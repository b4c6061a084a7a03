"""What reuse never does (reuse a failed step, or a step with allow_reuse=False), and source snapshots.

Scripts append their name to a counter file outside the datastore, so whether a script ran is
observed, not inferred from timing.
"""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from tests.conftest import DAGS
from tests.pipelines import local_output, output_location, passing_to_scripts, run_dag, task_states

DAG_FILE = os.path.join(DAGS, "reuse_rules_pipeline.py")
SCRIPTS = os.path.join(DAGS, "reuse_rules_scripts")

COUNT = """
import os, sys
with open(os.environ["REUSE_RULES_COUNTER"], "a") as counter:
    counter.write(os.path.basename(__file__) + "\\n")
"""

FILES = {
    # deterministic output, but declared allow_reuse=False: must run every time
    "flags/always.py": COUNT
    + "os.makedirs(sys.argv[1], exist_ok=True)\nopen(sys.argv[1] + '/v.txt', 'w').write('v')\n",
    # fails while the flag file exists (outside the source directory, so its fingerprint is unchanged)
    "flags/flaky.py": COUNT
    + """
if os.path.exists(os.environ["REUSE_RULES_FAIL_FLAG"]):
    print("failing on purpose", file=sys.stderr)
    sys.exit(1)
os.makedirs(sys.argv[2], exist_ok=True)
open(sys.argv[2] + "/done.txt", "w").write(open(sys.argv[1] + "/v.txt").read())
""",
    # edits helper.py in the DAG folder, then imports helper: the snapshot it runs from is unchanged
    "snap/first.py": """
import os, sys
with open(sys.argv[1], "w") as handle:
    handle.write("VALUE = 'edited during the run'\\n")
import helper
os.makedirs(sys.argv[2], exist_ok=True)
open(sys.argv[2] + "/value.txt", "w").write(helper.VALUE)
""",
    # a later step of the same run, same source directory: runs from the run's snapshot too
    "snap/second.py": """
import os, sys
import helper
os.makedirs(sys.argv[2], exist_ok=True)
open(sys.argv[2] + "/value.txt", "w").write(helper.VALUE + "|" + open(sys.argv[1] + "/value.txt").read())
""",
    "snap/helper.py": "VALUE = 'original'\n",
}

PIPELINES = """
import os
from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
value, done = PipelineData("value"), PipelineData("done")
always = PythonScriptStep("always.py", arguments=[value], outputs=[value], allow_reuse=False,
                          source_directory="reuse_rules_scripts/flags")
flaky = PythonScriptStep("flaky.py", arguments=[value, done], inputs=[value], outputs=[done],
                         source_directory="reuse_rules_scripts/flags")
Pipeline(ws, [flaky]).publish(name="reuse_flags")

helper = os.path.join(os.path.dirname(__file__), "reuse_rules_scripts", "snap", "helper.py")
one, two = PipelineData("one"), PipelineData("two")
first = PythonScriptStep("first.py", arguments=[helper, one], outputs=[one],
                         source_directory="reuse_rules_scripts/snap")
second = PythonScriptStep("second.py", arguments=[one, two], inputs=[one], outputs=[two],
                          source_directory="reuse_rules_scripts/snap")
Pipeline(ws, [second]).publish(name="reuse_snapshot")
"""


@pytest.fixture(scope="module")
def pipelines(dags_folder, tmp_path_factory):
    work = tmp_path_factory.mktemp("reuse_rules")
    patch = pytest.MonkeyPatch()
    patch.setenv("REUSE_RULES_COUNTER", str(work / "executed.txt"))
    patch.setenv("REUSE_RULES_FAIL_FLAG", str(work / "fail"))
    for name, value in passing_to_scripts("REUSE_RULES_*").items():
        patch.setenv(name, value)
    for name, body in FILES.items():
        path = os.path.join(SCRIPTS, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(DAG_FILE, "w") as handle:
        handle.write(PIPELINES)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("reuse_rules_scripts/\n")
    yield work
    patch.undo()


def executed(work) -> list[str]:
    path = work / "executed.txt"
    names = sorted(path.read_text().split()) if path.exists() else []
    path.write_text("")
    return names


def test_a_failed_step_is_never_reused_and_allow_reuse_false_always_runs(pipelines):
    from amlflow.runtime.artifacts import read_log

    (pipelines / "fail").write_text("")
    failed = run_dag(DAG_FILE, "reuse_flags")
    assert task_states(failed) == {"always.py": "success", "flaky.py": "failed"}
    assert executed(pipelines) == ["always.py", "flaky.py"]
    # the failed script's stderr is kept as an artifact of its step run
    assert "failing on purpose" in read_log("reuse_flags", failed.run_id, "flaky.py", "stderr")

    (pipelines / "fail").unlink()
    run = run_dag(DAG_FILE, "reuse_flags")
    assert task_states(run) == {"always.py": "success", "flaky.py": "success"}
    # always.py wrote the same bytes as before, so flaky.py's fingerprint is the one of the failed try:
    # it runs because a failed step is never indexed; always.py runs because allow_reuse=False.
    assert executed(pipelines) == ["always.py", "flaky.py"]

    run = run_dag(DAG_FILE, "reuse_flags")
    assert task_states(run) == {"always.py": "success", "flaky.py": "success"}
    assert executed(pipelines) == ["always.py"]


def test_steps_run_from_the_snapshot_taken_when_the_run_first_needed_it(pipelines):
    helper = os.path.join(SCRIPTS, "snap", "helper.py")
    run = run_dag(DAG_FILE, "reuse_snapshot")
    assert task_states(run) == {"first.py": "success", "second.py": "success"}
    with open(os.path.join(local_output(output_location(run, "second.py", "two")), "value.txt")) as handle:
        assert handle.read() == "original|original"
    with open(helper) as handle:
        assert handle.read() == "VALUE = 'edited during the run'\n"  # the DAG folder did change

    from amlflow import config
    from amlflow.runtime.snapshot import source_files
    from amlflow.storage import get_backend
    from amlflow.storage.location import run_artifact_path, snapshot_path

    backend = get_backend(config.get("default_datastore"))
    (record,) = backend.list_files(run_artifact_path("reuse_snapshot", run.run_id, "snapshots"))
    content_hash = json.loads(backend.read_bytes(record.path))["content_hash"]
    stored = backend.read_manifest(snapshot_path(content_hash))
    assert [f["path"] for f in stored.files] == ["first.py", "helper.py", "second.py"]
    assert source_files(os.path.join(SCRIPTS, "snap")) == ["first.py", "helper.py", "second.py"]
