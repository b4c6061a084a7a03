"""What a script receives: argv with resolved paths and run values, Azure ML's environment, its folder."""

from __future__ import annotations

import json
import os
import textwrap

import pytest

from tests.conftest import DAGS
from tests.pipelines import local_output, output_location, run_dag, task_states

SCRIPTS = os.path.join(DAGS, "contract_scripts")

PRODUCE = """
    import os, sys
    os.makedirs(sys.argv[1], exist_ok=True)
    open(os.path.join(sys.argv[1], "made.txt"), "w").write("made upstream")
"""

DUMP = """
    import json, os, sys
    out = sys.argv[sys.argv.index("--out") + 1]
    os.makedirs(out, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k.startswith(("AZUREML_DATAREFERENCE_", "AML_PARAMETER_"))}
    contents = {}
    for key, path in env.items():
        if key.startswith("AZUREML_DATAREFERENCE_") and not key.endswith("_result"):
            if os.path.isdir(path):
                contents[key] = sorted(os.listdir(path))
            else:
                contents[key] = open(path).read()
    got = {"argv": sys.argv[1:], "env": env, "cwd": os.getcwd(), "cwd_files": sorted(os.listdir("."))}
    got["contents"] = contents
    json.dump(got, open(os.path.join(out, "received.json"), "w"))
"""

PIPELINE = """
from amlflow.core import Datastore, Workspace
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
raw = DataReference(store, data_reference_name="raw", path_on_datastore="contract/raw.txt")
folder = DataReference(store, data_reference_name="folder", path_on_datastore="contract/folder").as_download(
    path_on_compute="local_copy"
)
made = PipelineData("made")
result = PipelineData("result")
alpha = PipelineParameter("alpha", 0.5)
mode = PipelineParameter("mode", "fast")

produce = PythonScriptStep("produce.py", arguments=[made], outputs=[made], source_directory="contract_scripts")
dump = PythonScriptStep(
    "dump.py",
    arguments=["--raw", raw, "--folder", folder, "--made", made.as_download(input_name="made_copy"),
               "--alpha", alpha, "--count", 3, "--out", result],
    inputs=[raw, folder, made.as_download(input_name="made_copy")],
    outputs=[result],
    params={"mode": mode, "literal": "x y"},
    source_directory="contract_scripts",
)
Pipeline(ws, [dump]).publish(name="contract")
"""


@pytest.fixture(scope="module")
def received(dags_folder):
    os.makedirs(SCRIPTS, exist_ok=True)
    for name, body in (("produce.py", PRODUCE), ("dump.py", DUMP)):
        with open(os.path.join(SCRIPTS, name), "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("contract_scripts/\n")
    dag_file = os.path.join(DAGS, "contract_pipeline.py")
    with open(dag_file, "w") as handle:
        handle.write(PIPELINE)
    from amlflow.storage import get_backend

    backend = get_backend("workspaceblobstore")
    backend.write_bytes("contract/raw.txt", b"raw text")
    backend.write_bytes("contract/folder/one.txt", b"1")
    backend.write_bytes("contract/folder/two.txt", b"2")
    run = run_dag(dag_file, "contract", {"alpha": 2.5})
    assert task_states(run) == {"produce.py": "success", "dump.py": "success"}
    with open(os.path.join(local_output(output_location(run, "dump.py", "result")), "received.json")) as handle:
        return run, json.load(handle)


def test_argv_has_paths_and_the_run_values_in_order(received):
    run, got = received
    argv = got["argv"]
    assert argv[0::2] == ["--raw", "--folder", "--made", "--alpha", "--count", "--out"]
    assert argv[7] == "2.5"  # the run's value, not the default 0.5
    assert argv[9] == "3"  # a literal int becomes its string
    from amlflow.storage import get_backend

    assert argv[1] == get_backend("workspaceblobstore").local_path("contract/raw.txt")  # mount: read in place
    assert argv[3].endswith("/local_copy")  # download mode, at path_on_compute
    assert argv[5].endswith("/made_copy") and argv[5] != local_output(output_location(run, "produce.py", "made"))


def test_environment_has_azure_ml_variables(received):
    _run, got = received
    env, argv = got["env"], got["argv"]
    assert env["AZUREML_DATAREFERENCE_raw"] == argv[1]
    assert env["AZUREML_DATAREFERENCE_folder"] == argv[3]
    assert env["AZUREML_DATAREFERENCE_made_copy"] == argv[5]
    assert env["AZUREML_DATAREFERENCE_result"] == argv[11]
    assert env["AML_PARAMETER_alpha"] == "2.5"
    assert env["AML_PARAMETER_mode"] == "fast"
    assert env["AML_PARAMETER_literal"] == "x y"


def test_inputs_hold_the_data_and_the_script_runs_in_its_source_directory(received):
    _run, got = received
    assert got["contents"] == {
        "AZUREML_DATAREFERENCE_raw": "raw text",
        "AZUREML_DATAREFERENCE_folder": ["one.txt", "two.txt"],
        "AZUREML_DATAREFERENCE_made_copy": ["made.txt"],
    }
    # It runs in a private copy of its source directory's snapshot, not in the DAG folder (issue 5).
    assert got["cwd"] != SCRIPTS and got["cwd_files"] == ["dump.py", "produce.py"]
