"""AdlaStep end to end against the ADLA job API double: substitution, outputs, U-SQL failures, timeout, kill."""

from __future__ import annotations

import json
import os
import re
import textwrap
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import DAGS
from tests.doubles.adla import Outcome, usql_error
from tests.fixtures.adla_double import ADLA_CONN_ID
from tests.pipelines import output_location, raw_xcom, run_dag, task_states

DAG_FILE = os.path.join(DAGS, "adla_pipelines.py")
SCRIPTS = os.path.join(DAGS, "adla_scripts")

USQL = """\
// Keep the words of @@raw@@ that are not @@skip@@, at most @@limit@@ of them.
@words = EXTRACT word string FROM "@@raw@@" USING Extractors.Text();
@kept = SELECT word FROM @words WHERE word != "@@skip@@" FETCH @@limit@@ ROWS;
OUTPUT @kept TO "@@kept@@/words.txt" USING Outputters.Text();
"""

COUNT_PY = """\
import json, os, sys
words = open(os.path.join(sys.argv[1], "words.txt")).read().split()
os.makedirs(sys.argv[2], exist_ok=True)
json.dump({"words": words}, open(os.path.join(sys.argv[2], "count.json"), "w"))
"""

PIPELINES = f"""
from datetime import timedelta

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import AdlaCompute, ComputeTarget
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import AdlaStep, PythonScriptStep

ws = Workspace()
adla = ComputeTarget.attach(ws, {ADLA_CONN_ID!r}, AdlaCompute.attach_configuration("rg", "amlflowtests"))
store = Datastore(ws, "workspaceblobstore")
raw = DataReference(store, data_reference_name="raw", path_on_datastore="adla/words.txt")

kept = PipelineData("kept", datastore=store)
counted = PipelineData("counted", datastore=store)
filter_words = AdlaStep(
    "filter.usql",
    name="filter_words",
    inputs=[raw],
    outputs=[kept],
    params={{"skip": PipelineParameter("skip_word", default_value="b"), "limit": 100}},
    degree_of_parallelism=4,
    priority=50,
    runtime_version="release_20240101",
    compute_target=adla,
    source_directory="adla_scripts",
)
count = PythonScriptStep(
    "count.py", arguments=[kept, counted], inputs=[kept], outputs=[counted], source_directory="adla_scripts"
)
Pipeline(ws, [count]).publish(name="adla_words")

for label in ("fail", "slow"):
    step = AdlaStep(
        "filter.usql", name="adla_" + label, inputs=[raw], outputs=[PipelineData("kept")],
        params={{"skip": "x", "limit": 1}}, compute_target={ADLA_CONN_ID!r}, source_directory="adla_scripts",
    )
    Pipeline(ws, [step]).publish(name="adla_" + label)

never = AdlaStep("filter.usql", name="adla_never", inputs=[raw], params={{"skip": "x", "limit": 1}},
                 compute_target=adla, source_directory="adla_scripts")
Pipeline(ws, [never]).as_dag("adla_timeout", default_args={{"execution_timeout": timedelta(seconds=2)}})
"""


def words_job(parameters: dict) -> None:
    """What the U-SQL script does, played by the double when the job succeeds: read the input, write the output."""
    script = parameters["properties"]["script"]
    source = re.search(r'FROM "([^"]+)"', script).group(1)
    skip = re.search(r'word != "([^"]+)"', script).group(1)
    target = re.search(r'OUTPUT @kept TO "([^"]+)"', script).group(1)
    with open(urlsplit(source).path) as handle:
        words = [w for w in handle.read().split() if w != skip]
    os.makedirs(os.path.dirname(urlsplit(target).path), exist_ok=True)
    with open(urlsplit(target).path, "w") as handle:
        handle.write("\n".join(words))


@pytest.fixture(scope="module")
def adla_pipelines(dags_folder, adla_double):
    from amlflow import config

    datastore_root = config.local_datastore_root()
    os.makedirs(SCRIPTS, exist_ok=True)
    for name, body in (("filter.usql", USQL), ("count.py", COUNT_PY)):
        with open(os.path.join(SCRIPTS, name), "w") as handle:
            handle.write(body)
    with open(DAG_FILE, "w") as handle:
        handle.write(textwrap.dedent(PIPELINES))
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("adla_scripts/\n")
    data = os.path.join(datastore_root, "workspaceblobstore", "adla", "words.txt")
    os.makedirs(os.path.dirname(data), exist_ok=True)
    with open(data, "w") as handle:
        handle.write("a b c b d")
    adla_double.plan("adla_words.", Outcome.success(seconds=0.5, on_success=words_job))
    adla_double.plan(
        "adla_fail.",
        Outcome.failure(usql_error("syntax error. Expected one of: ';' ')' ','", line=3), seconds=0.3),
    )
    adla_double.plan("adla_slow.", Outcome.success(seconds=3))
    adla_double.plan("adla_timeout.", Outcome.never_ends())
    return DAG_FILE


def test_inputs_outputs_and_params_are_substituted_in_the_submitted_script(adla_pipelines, adla_double, datastore_root):
    run = run_dag(adla_pipelines, "adla_words", {"skip_word": "c"})
    assert task_states(run) == {"filter_words": "success", "count.py": "success"}

    [body] = [b for b in adla_double.submitted("adla_words.") if run.run_id in b["name"]]
    script = body["properties"]["script"]
    kept = output_location(run, "filter_words", "kept")
    raw = "file://" + os.path.join(datastore_root, "workspaceblobstore", "adla", "words.txt")
    assert f'FROM "{raw}"' in script
    assert f'OUTPUT @kept TO "{kept.uri}/words.txt"' in script
    assert 'word != "c"' in script  # the run's value of the PipelineParameter, not its default
    assert "FETCH 100 ROWS" in script
    assert "@@" not in script
    assert body["type"] == "USql" and body["properties"]["type"] == "USql"
    assert body["degreeOfParallelism"] == 4
    assert body["priority"] == 50
    assert body["properties"]["runtimeVersion"] == "release_20240101"


def test_a_later_step_reads_what_the_job_wrote(adla_pipelines, adla_double):
    run = run_dag(adla_pipelines, "adla_words", {"skip_word": "b"})
    counted = output_location(run, "count.py", "counted")
    from amlflow.storage import get_backend

    folder = get_backend(counted.datastore).local_path(counted.path)
    with open(os.path.join(folder, "count.json")) as handle:
        assert json.load(handle) == {"words": ["a", "c", "d"]}
    kept = output_location(run, "filter_words", "kept")
    manifest = get_backend(kept.datastore).read_manifest(kept.path)
    assert [f["path"] for f in manifest.files] == ["words.txt"]


def test_a_failed_usql_job_fails_the_step_with_its_errors_in_the_log(adla_pipelines, adla_double, capfd):
    run = run_dag(adla_pipelines, "adla_fail")
    assert task_states(run) == {"adla_fail": "failed"}
    assert output_location(run, "adla_fail", "kept") is None
    [job_id] = [j for j in adla_double.job_ids("adla_fail.") if run.run_id in adla_double.job(j)["name"]]
    assert adla_double.job(job_id)["result"] == "Failed"
    log = capfd.readouterr().out
    assert f"ADLA job {job_id}" in log and "result Failed" in log
    assert "E_CSC_USER_SYNTAXERROR at line 3: syntax error. Expected one of: ';' ')' ','" in log
    # The service principal's secret and the bearer tokens it got never reach the task log.
    assert adla_double.client_secret not in log
    assert adla_double.issued_tokens() and not any(token in log for token in adla_double.issued_tokens())


def test_a_slow_job_is_waited_for(adla_pipelines, adla_double):
    started = time.monotonic()
    run = run_dag(adla_pipelines, "adla_slow")
    assert task_states(run) == {"adla_slow": "success"}
    [job_id] = [j for j in adla_double.job_ids("adla_slow.") if run.run_id in adla_double.job(j)["name"]]
    job = adla_double.job(job_id)
    assert job["result"] == "Succeeded"
    states = [r["newState"] for r in job["stateAuditRecords"]]
    assert states[-2:] == ["Running", "Ended"]
    assert time.monotonic() - started >= 3


def test_execution_timeout_cancels_the_job(adla_pipelines, adla_double, capfd):
    run = run_dag(adla_pipelines, "adla_timeout")
    assert task_states(run) == {"adla_never": "failed"}
    [job_id] = [j for j in adla_double.job_ids("adla_timeout.") if run.run_id in adla_double.job(j)["name"]]
    assert adla_double.cancels(job_id) == 1
    assert adla_double.job(job_id)["result"] == "Cancelled"
    assert "execution_timeout (0:00:02) passed" in capfd.readouterr().out


def test_the_hook_reports_what_the_service_refuses_without_secrets(adla_double):
    from amlflow.hooks.adla import AdlaHook, AdlaJobError

    hook = AdlaHook(ADLA_CONN_ID)
    with pytest.raises(AdlaJobError) as refused:
        hook.submit_job("0f8fad5b-d9cb-469f-a165-70867728950e", "bad priority", "OUTPUT @x TO @y;", priority=0)
    message = str(refused.value)
    assert "answered 400: InvalidRequestBody: priority: 0 is less than or equal to the minimum of 0" in message
    assert adla_double.client_secret not in message
    with pytest.raises(AdlaJobError, match="answered 404: JobNotFound"):
        hook.get_job("1f8fad5b-d9cb-469f-a165-70867728950e")


def test_an_unchanged_job_is_reused_and_an_edited_script_runs_again(adla_pipelines, adla_double):
    from amlflow.runtime.reuse import REUSE_XCOM_KEY

    conf = {"skip_word": f"probe-{time.time_ns()}"}  # a value no other run used: the first run cannot reuse
    first = run_dag(adla_pipelines, "adla_words", conf)
    again = run_dag(adla_pipelines, "adla_words", conf)
    assert task_states(again) == {"filter_words": "success", "count.py": "success"}
    assert [b for b in adla_double.submitted("adla_words.") if again.run_id in b["name"]] == []
    reused = json.loads(raw_xcom(again, "filter_words", REUSE_XCOM_KEY))
    assert reused["reused_run_id"] == first.run_id and reused["reused_task_id"] == "filter_words"
    assert output_location(again, "filter_words", "kept") == output_location(first, "filter_words", "kept")

    script = os.path.join(SCRIPTS, "filter.usql")
    try:
        with open(script, "a") as handle:
            handle.write("// edited\n")
        edited = run_dag(adla_pipelines, "adla_words", conf)
    finally:
        with open(script, "w") as handle:
            handle.write(USQL)
    [body] = [b for b in adla_double.submitted("adla_words.") if edited.run_id in b["name"]]
    assert body["properties"]["script"].endswith("// edited\n")
    assert raw_xcom(edited, "filter_words", REUSE_XCOM_KEY) is None
