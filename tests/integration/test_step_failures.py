"""A failing or killed script fails its task and leaves no committed output; XCom rows stay small."""

from __future__ import annotations

import os
import textwrap

import pytest

from tests.conftest import DAGS
from tests.pipelines import output_location, raw_xcom, run_dag, task_states

DAG_FILE = os.path.join(DAGS, "failures_pipeline.py")
SCRIPTS = os.path.join(DAGS, "failures_scripts")

STEP_SCRIPTS = {
    # writes part of its output, then fails with a message on stderr
    "fail.py": """
        import os, sys
        os.makedirs(sys.argv[1], exist_ok=True)
        open(os.path.join(sys.argv[1], "part.txt"), "w").write("half")
        print("noise line", file=sys.stderr)
        print("ValueError: the input has no rows", file=sys.stderr)
        sys.exit(3)
    """,
    # killed by SIGKILL in the middle of writing its output
    "killed.py": """
        import os, signal, sys
        os.makedirs(sys.argv[1], exist_ok=True)
        with open(os.path.join(sys.argv[1], "big.bin"), "wb") as handle:
            handle.write(b"x" * 4096)
            handle.flush()
            os.kill(os.getpid(), signal.SIGKILL)
    """,
    # writes SIZE bytes of output
    "write.py": """
        import os, sys
        os.makedirs(sys.argv[1], exist_ok=True)
        size = int(sys.argv[2])
        with open(os.path.join(sys.argv[1], "data.bin"), "wb") as handle:
            chunk = b"y" * (1 << 20)
            while size > 0:
                handle.write(chunk[: min(size, len(chunk))])
                size -= len(chunk)
    """,
}

PIPELINES = """
from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
for script in ("fail.py", "killed.py"):
    out = PipelineData("out")
    step = PythonScriptStep(script, arguments=[out], outputs=[out], source_directory="failures_scripts")
    Pipeline(ws, [step]).publish(name="failures_" + script.removesuffix(".py"))

first = PipelineData("first")
failing = PythonScriptStep("fail.py", arguments=[first], outputs=[first], source_directory="failures_scripts")
after = PythonScriptStep(
    "write.py", name="after", arguments=[first, 1], inputs=[first], source_directory="failures_scripts"
)
Pipeline(ws, [after]).publish(name="failures_chain")

for label, size in (("small", 1024), ("large", 100 * 1024 * 1024)):
    out = PipelineData("out")
    step = PythonScriptStep("write.py", arguments=[out, size], outputs=[out], source_directory="failures_scripts")
    Pipeline(ws, [step]).publish(name="failures_write_" + label)
"""


@pytest.fixture(scope="module")
def pipelines(dags_folder):
    os.makedirs(SCRIPTS, exist_ok=True)
    for name, body in STEP_SCRIPTS.items():
        with open(os.path.join(SCRIPTS, name), "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(DAG_FILE, "w") as handle:
        handle.write(PIPELINES)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("failures_scripts/\n")
    return DAG_FILE


def committed_outputs(datastore_root: str, dag_id: str) -> list[str]:
    base = os.path.join(datastore_root, "workspaceblobstore", "amlflow", dag_id)
    found = []
    for root, _dirs, names in os.walk(base):
        found.extend(os.path.join(root, n) for n in names if n.endswith(".manifest.json"))
    return found


def test_non_zero_exit_fails_the_task_with_the_stderr_tail(pipelines, datastore_root, capfd):
    run = run_dag(pipelines, "failures_fail")
    assert task_states(run) == {"fail.py": "failed"}
    logged = capfd.readouterr()
    text = logged.out + logged.err
    assert "fail.py exited with code 3; last lines of stderr:\nnoise line\nValueError: the input has no rows" in text
    assert committed_outputs(datastore_root, "failures_fail") == []
    assert output_location(run, "fail.py", "out") is None


def test_a_failed_step_fails_the_run_and_its_dependents_do_not_run(pipelines):
    run = run_dag(pipelines, "failures_chain")
    assert task_states(run) == {"fail.py": "failed", "after": "upstream_failed"}
    assert str(run.state) == "failed"


def test_killed_script_leaves_no_committed_output(pipelines, datastore_root):
    run = run_dag(pipelines, "failures_killed")
    assert task_states(run) == {"killed.py": "failed"}
    assert committed_outputs(datastore_root, "failures_killed") == []
    staged = os.path.join(datastore_root, "workspaceblobstore", ".amlflow-staging")
    assert not os.path.exists(staged) or os.listdir(staged) == []


@pytest.mark.parametrize("label", ["small", "large"])
def test_xcom_row_of_an_output_stays_under_1kb_whatever_the_data_size(pipelines, label):
    run = run_dag(pipelines, f"failures_write_{label}")
    assert task_states(run) == {"write.py": "success"}
    row = raw_xcom(run, "write.py", "out")
    assert len(row.encode()) < 1024, row
    location = output_location(run, "write.py", "out")
    assert location.size == (1024 if label == "small" else 100 * 1024 * 1024)
