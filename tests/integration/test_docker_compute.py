"""Steps on a DockerCompute target run in containers on a real Docker engine.

The example pipeline runs with its middle step in a container and the others in the worker, its
PipelineData crossing both ways; an environment with pip packages is built into an image once and
reused by the next run; a failing container fails its task with the stderr tail; a killed task stops
its container. Each asks the engine itself (events, containers, images) what happened.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import textwrap
import threading
import time

import pytest

from tests.conftest import DAGS, ROOT
from tests.pipelines import local_output, output_location, run_dag, task_states

pytestmark = pytest.mark.integration

DAG_FILE = os.path.join(DAGS, "docker_pipelines.py")
PACKAGE = "tabulate==0.9.0"  # the worker has another version (0.10.0): the step sees the image's
ENVIRONMENT = "docker-test-tabulate"

SCRIPTS = {
    "versions.py": """
        import json, os, sys
        import tabulate
        os.makedirs(sys.argv[1], exist_ok=True)
        with open(os.path.join(sys.argv[1], "versions.json"), "w") as handle:
            json.dump({"tabulate": tabulate.__version__, "python": sys.executable}, handle)
        print("tabulate", tabulate.__version__)
    """,
    "fail.py": """
        import os, sys
        os.makedirs(sys.argv[1], exist_ok=True)
        open(os.path.join(sys.argv[1], "part.txt"), "w").write("half")
        print("progress line on stdout")
        print("noise line", file=sys.stderr)
        print("ValueError: the input has no rows", file=sys.stderr)
        sys.exit(3)
    """,
    "sleep.py": """
        import os, sys, time
        os.makedirs(sys.argv[1], exist_ok=True)
        open(os.path.join(sys.argv[1], "part.txt"), "w").write("started")
        print("sleeping", flush=True)
        time.sleep(300)
    """,
}

PIPELINES = f"""
import os

from amlflow.core import Datastore, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget, DockerCompute
from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.environment import Environment
from amlflow.core.runconfig import RunConfiguration
from amlflow.data.data_reference import DataReference
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import PythonScriptStep

ws = Workspace()
store = Datastore(ws, "workspaceblobstore")
cpu = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=2))
docker = ComputeTarget.attach(ws, "docker-cpu", DockerCompute.attach_configuration(max_nodes=2))
project = os.path.join(os.path.dirname(__file__), "docker_compare_models")
scripts = os.path.join(os.path.dirname(__file__), "docker_scripts")

# The example pipeline, its middle step in a container.
data = DataReference(datastore=store, data_reference_name="test_data", path_on_datastore="20newsgroups/20news.csv")
models, scores, report = PipelineData("models", store), PipelineData("scores", store), PipelineData("report", store)
train = PythonScriptStep("train.py", arguments=["--input", data, "--output", models], inputs=[data],
                         outputs=[models], compute_target=cpu, source_directory=project)
extract = PythonScriptStep("extract.py", arguments=["--input_data", data, "--models", models,
                           "--output_extract", scores], inputs=[data, models], outputs=[scores],
                           compute_target=docker, source_directory=project, allow_reuse=False)
compare = PythonScriptStep("compare.py", arguments=["--comp_data1", models, "--comp_data2", scores,
                           "--output_data", report, "--param1", 2], inputs=[models, scores], outputs=[report],
                           compute_target=cpu, source_directory=project, allow_reuse=False)
Pipeline(ws, [compare]).publish(name="docker_example")

# An environment with a pip package, as Azure ML users write it.
env = Environment({ENVIRONMENT!r})
env.python.conda_dependencies = CondaDependencies.create(pip_packages=[{PACKAGE!r}])
run_config = RunConfiguration()
run_config.environment = env
out = PipelineData("out", store)
step = PythonScriptStep("versions.py", arguments=[out], outputs=[out], compute_target=docker, runconfig=run_config,
                        source_directory=scripts, allow_reuse=False)
Pipeline(ws, [step]).publish(name="docker_pip_environment")

for script in ("fail.py", "sleep.py"):
    out = PipelineData("out", store)
    step = PythonScriptStep(script, arguments=[out], outputs=[out], compute_target=docker, source_directory=scripts)
    # No retries: a stopped try would be retried (the kill test wants to see the one try end).
    Pipeline(ws, [step]).as_dag("docker_" + script.removesuffix(".py"), default_args={{"retries": 0}})
"""


@pytest.fixture(scope="module")
def pipelines(docker_engine, dags_folder):
    import subprocess
    import sys

    shutil.copytree(os.path.join(ROOT, "dags", "compare_models"), os.path.join(DAGS, "docker_compare_models"))
    os.makedirs(os.path.join(DAGS, "docker_scripts"))
    for name, body in SCRIPTS.items():
        with open(os.path.join(DAGS, "docker_scripts", name), "w") as handle:
            handle.write(textwrap.dedent(body))
    with open(DAG_FILE, "w") as handle:
        handle.write(PIPELINES)
    with open(os.path.join(DAGS, ".airflowignore"), "a") as handle:
        handle.write("docker_compare_models/\ndocker_scripts/\n")
    upload = os.path.join(DAGS, "docker_compare_models", "upload_data.py")
    subprocess.run([sys.executable, upload], check=True, capture_output=True)
    return DAG_FILE


def engine_events(client, since: float, **filters) -> list[dict]:
    """What the engine did between ``since`` and now, filtered (e.g. type=container, event=create)."""
    return list(client.events(since=int(since), until=int(time.time()) + 1, decode=True, filters=filters))


def step_containers(client, task_id: str) -> list[dict]:
    return client.containers(all=True, filters={"label": f"amlflow.task_id={task_id}"})


def committed_outputs(datastore_root: str, dag_id: str) -> list[str]:
    base = os.path.join(datastore_root, "workspaceblobstore", "amlflow", dag_id)
    return [n for _root, _dirs, names in os.walk(base) for n in names if n.endswith(".manifest.json")]


def test_example_pipeline_with_one_step_in_a_container(pipelines, docker_engine):
    client = docker_engine.client()
    started = time.time()
    run = run_dag(pipelines, "docker_example")
    assert task_states(run) == {"train.py": "success", "extract.py": "success", "compare.py": "success"}

    created = engine_events(client, started, type="container", event="create")
    assert [e["Actor"]["Attributes"]["amlflow.task_id"] for e in created] == ["extract.py"]
    assert created[0]["Actor"]["Attributes"]["image"] == docker_engine.base_image
    assert step_containers(client, "extract.py") == []  # removed once its logs were read

    # local -> container -> local: each step read exactly what the one before committed.
    models = local_output(output_location(run, "train.py", "models"))
    scores = local_output(output_location(run, "extract.py", "scores"))
    with open(os.path.join(local_output(output_location(run, "compare.py", "report")), "report.json")) as handle:
        report = json.load(handle)
    with open(os.path.join(scores, "scores.json")) as handle:
        assert report["scores"] == json.load(handle)
    assert set(report["scores"]) == {name.removesuffix(".json") for name in os.listdir(models)}
    assert report["ranking"][0] == "linear"


def test_pip_environment_is_built_once_and_reused(pipelines, docker_engine):
    client = docker_engine.client()
    for image in client.images(filters={"label": f"amlflow.environment={ENVIRONMENT}"}):
        client.remove_image(image["Id"], force=True)  # images persist across sessions: start from none

    first_started = time.time()
    first = run_dag(pipelines, "docker_pip_environment")
    assert task_states(first) == {"versions.py": "success"}
    built = client.images(filters={"label": f"amlflow.environment={ENVIRONMENT}"})
    assert len(built) == 1 and built[0]["RepoTags"][0].startswith("amlflow/env:")
    tag = built[0]["RepoTags"][0]
    # The first run built it: the engine tagged exactly that image, once.
    tagged = engine_events(client, first_started, type="image", event="tag")
    assert [e["Actor"]["Attributes"]["name"] for e in tagged] == [tag]

    second_started = time.time()
    time.sleep(1.1)  # engine events have 1 s resolution: keep the first run's out of the second's window
    second = run_dag(pipelines, "docker_pip_environment")
    assert task_states(second) == {"versions.py": "success"}
    # The second run built nothing: no tag event, and its only container is the step's, from the same image.
    assert engine_events(client, second_started + 1, type="image", event="tag") == []
    created = engine_events(client, second_started + 1, type="container", event="create")
    assert [e["Actor"]["Attributes"]["image"] for e in created] == [tag]
    assert client.images(filters={"label": f"amlflow.environment={ENVIRONMENT}"})[0]["Id"] == built[0]["Id"]

    for run in (first, second):
        with open(os.path.join(local_output(output_location(run, "versions.py", "out")), "versions.json")) as handle:
            versions = json.load(handle)
        assert versions["tabulate"] == "0.9.0"  # from the image, not the worker's 0.10.0
        assert versions["python"] == "/usr/bin/python"


def test_failing_container_fails_the_task_with_the_stderr_tail(pipelines, docker_engine, datastore_root, capfd):
    run = run_dag(pipelines, "docker_fail")
    assert task_states(run) == {"fail.py": "failed"}
    text = "".join(capfd.readouterr())
    assert "fail.py exited with code 3 in container" in text
    assert "last lines of stderr:\nnoise line\nValueError: the input has no rows" in text
    assert "progress line on stdout" in text  # the container's output streamed into the task log
    assert committed_outputs(datastore_root, "docker_fail") == []
    assert output_location(run, "fail.py", "out") is None
    assert step_containers(docker_engine.client(), "fail.py") == []


def test_killed_task_stops_its_container(pipelines, docker_engine, datastore_root):
    client = docker_engine.client()
    killed_at: list[float] = []

    def kill_when_running() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if client.containers(filters={"label": "amlflow.task_id=sleep.py", "status": "running"}):
                killed_at.append(time.monotonic())
                # What the supervisor does to a task it kills; the task runner's handler calls on_kill.
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(0.2)

    previous = signal.getsignal(signal.SIGTERM)
    watcher = threading.Thread(target=kill_when_running, daemon=True)
    watcher.start()
    try:
        run = run_dag(pipelines, "docker_sleep")
    finally:
        watcher.join(5)
        signal.signal(signal.SIGTERM, previous)
    ended = time.monotonic()
    assert killed_at, "the step's container never ran"
    assert task_states(run) == {"sleep.py": "failed"}
    assert ended - killed_at[0] < 60  # stopped (10 s grace, then SIGKILL), not left sleeping for 300 s
    assert step_containers(client, "sleep.py") == []
    assert committed_outputs(datastore_root, "docker_sleep") == []
