"""``CommandStep``: its definition, refusals, the operator it becomes and the process that operator runs."""

from __future__ import annotations

import datetime
import logging
import os
import subprocess
import sys

import pytest

from amlflow.core import Environment, ScriptRunConfig, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget, DockerCompute
from amlflow.core.runconfig import MpiConfiguration, PyTorchConfiguration, RunConfiguration
from amlflow.exceptions import PipelineValidationError, UserErrorException
from amlflow.pipeline.core import Pipeline, PipelineData, PipelineParameter
from amlflow.pipeline.steps import CommandStep, PythonScriptStep


@pytest.fixture
def src(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    return str(tmp_path)


def problems(*steps) -> list[str]:
    return [str(p) for p in Pipeline(Workspace(), list(steps)).validate()]


def test_azure_mls_signature_and_defaults(src):
    import inspect

    assert list(inspect.signature(CommandStep.__init__).parameters)[1:] == [
        "command",
        "name",
        "compute_target",
        "runconfig",
        "runconfig_pipeline_params",
        "inputs",
        "outputs",
        "params",
        "source_directory",
        "allow_reuse",
        "version",
    ]
    step = CommandStep("python train.py --epochs 3", source_directory=src)
    assert step.name == "CommandStep_python"  # Azure ML's: the first word of the command
    assert (step.command_line, step.arguments, step.allow_reuse) == ("python train.py --epochs 3", [], True)
    assert step.kind == "CommandStep" and step.compute_target is None


def test_a_script_run_config_gives_command_source_directory_compute_and_environment(src):
    ws = Workspace()
    gpu = ComputeTarget.create(ws, "gpu-cluster", AmlCompute.provisioning_configuration(max_nodes=4))
    env = Environment.get(ws, "AzureML-TensorFlow-2.3-GPU")
    config = ScriptRunConfig(src, command=["python train.py --epochs 30"], compute_target=gpu, environment=env)
    step = CommandStep(name="train-mnist", runconfig=config)
    assert (step.command_line, step.arguments) == ("python train.py --epochs 30", [])
    assert step.source_directory() == src
    assert step.compute_target is gpu
    assert step.runconfig is config.run_config and step.runconfig.environment is env
    assert problems(step) == []


def test_command_is_required_as_in_azure_ml(src):
    with pytest.raises(UserErrorException, match=r"command is required either from command directly or runconfig\."):
        CommandStep(name="x", source_directory=src)
    with pytest.raises(UserErrorException, match="command is required"):
        CommandStep(runconfig=ScriptRunConfig(src, script="train.py"))
    with pytest.raises(UserErrorException, match="the first item of command must be the command line"):
        CommandStep([PipelineData("d"), "x"], source_directory=src)


def test_a_command_list_holds_data_and_parameters_as_its_further_arguments(src):
    data = PipelineData("prepared")
    out = PipelineData("model")
    epochs = PipelineParameter("epochs", default_value=3)
    producer = PythonScriptStep("train.py", name="prep", outputs=[data], source_directory=src)
    step = CommandStep(
        ["python train.py --data", data, "--epochs", epochs, "--out", out],
        name="train",
        inputs=[data],
        outputs=[out],
        source_directory=src,
    )
    pipeline = Pipeline(Workspace(), [producer, step])
    assert pipeline.validate() == []
    task = pipeline.as_dag("command_list").get_task("train")
    assert task.command_line == "python train.py --data"
    assert task.arguments == [{"input": "prepared"}, "--epochs", "{{ params['epochs'] }}", "--out", {"output": "model"}]
    assert [spec["name"] for spec in task.inputs] == ["prepared"]
    assert task.upstream_task_ids == {"prep"}


def test_data_in_the_command_but_not_in_inputs_is_reported_under_command(src):
    step = CommandStep(["python train.py", PipelineData("orphan")], name="c", source_directory=src)
    assert problems(step) == [
        "step 'c', field 'command': PipelineData 'orphan' appears in arguments but is not in inputs or outputs"
    ]


def test_an_mpi_config_of_two_nodes_is_refused_naming_the_step_and_field(src):
    config = ScriptRunConfig(src, command="python train.py", distributed_job_config=MpiConfiguration(node_count=2))
    step = CommandStep(name="train-mnist", runconfig=config)
    found = problems(step)
    assert len(found) == 1, found
    assert "train-mnist" in found[0] and "runconfig" in found[0] and "distributed_job_config" in found[0]
    assert "drop distributed_job_config" in found[0] and "ParallelRunStep" in found[0]
    with pytest.raises(PipelineValidationError, match="distributed training"):
        Pipeline(Workspace(), [step]).as_dag("distributed")
    one = ScriptRunConfig(src, command="python train.py", distributed_job_config=MpiConfiguration(node_count=1))
    assert problems(CommandStep(name="one", runconfig=one)) == []


def test_a_runconfig_asking_for_processes_or_nodes_is_refused_too(src):
    run_config = RunConfiguration()
    run_config.node_count = 3
    assert "distributed training" in problems(CommandStep("ls", name="nodes", runconfig=run_config))[0]
    torch = ScriptRunConfig(src, command="x", distributed_job_config=PyTorchConfiguration(process_count=2))
    assert "distributed training" in problems(CommandStep(name="torch", runconfig=torch))[0]
    counts = {"NodeCount": PipelineParameter("nodes", default_value=1)}
    found = problems(CommandStep("ls", name="p", source_directory=src, runconfig_pipeline_params=counts))
    assert len(found) == 1 and "runconfig_pipeline_params" in found[0] and "NodeCount" in found[0]


def test_a_python_script_step_asking_for_nodes_or_processes_is_refused_as_a_command_step_is(src):
    run_config = RunConfiguration()
    run_config.node_count = 2
    found = problems(PythonScriptStep("train.py", name="mpi", source_directory=src, runconfig=run_config))
    assert len(found) == 1 and "'mpi'" in found[0] and "runconfig" in found[0] and "distributed training" in found[0]
    counts = {"MpiProcessCountPerNode": PipelineParameter("procs", default_value=1)}
    found = problems(PythonScriptStep("train.py", name="p", source_directory=src, runconfig_pipeline_params=counts))
    assert len(found) == 1 and "runconfig_pipeline_params" in found[0] and "MpiProcessCountPerNode" in found[0]
    assert problems(PythonScriptStep("train.py", name="one", source_directory=src, runconfig=RunConfiguration())) == []


def test_a_missing_source_directory_is_azure_mls_message(tmp_path):
    found = problems(CommandStep("ls", name="ls", source_directory=str(tmp_path / "nope")))
    assert len(found) == 1 and "source_directory should be an existing directory" in found[0]


def test_the_operator_and_its_arguments(src):
    from amlflow.operators.command import CommandStepOperator

    config = ScriptRunConfig(src, command="python train.py", max_run_duration_seconds=600)
    step = CommandStep(name="t", runconfig=config, params={"mode": "fast"}, allow_reuse=False)
    task = Pipeline(Workspace(), [step]).as_dag("operator").get_task("t")
    assert type(task) is CommandStepOperator
    assert (task.command_line, task.source_directory, task.allow_reuse) == ("python train.py", src, False)
    assert task.step_params == {"AML_PARAMETER_mode": "fast"}
    assert task.execution_timeout == datetime.timedelta(seconds=600)
    assert task.step_kind == "CommandStep"


def test_in_a_container_the_command_runs_through_the_docker_path(src):
    from amlflow.operators.docker_command import DockerCommandStepOperator

    ws = Workspace()
    docker = ComputeTarget.attach(ws, "docker-cpu", DockerCompute.attach_configuration(docker_url="tcp://h:2376"))
    step = CommandStep("python train.py", name="d", compute_target=docker, source_directory=src)
    task = Pipeline(ws, [step]).as_dag("docker_command").get_task("d")
    assert type(task) is DockerCommandStepOperator
    assert task.docker_url == "tcp://h:2376"
    assert task.process_argv("/w/source", ["a b"], "python") == ["/bin/sh", "-c", "python train.py 'a b'"]


def test_the_process_is_a_shell_line_whose_python_is_the_workers(tmp_path):
    from amlflow.operators.command import CommandStepOperator

    task = CommandStepOperator(
        task_id="c",
        command_line='python -c "import sys, amlflow; print(sys.executable, sys.argv[1:])"',
        source_directory=str(tmp_path),
    )
    cwd = tmp_path / "work" / "source"
    cwd.mkdir(parents=True)
    argv = task.process_argv(str(cwd), ["it's", "$HOME"], sys.executable)
    assert argv[:2] == ["/bin/sh", "-c"] and argv[2].endswith("""'it'"'"'s' '$HOME'""")
    env = task._local_environment(str(cwd), {"PATH": "/usr/bin:/bin"})
    assert env["PATH"].split(os.pathsep)[0] == str(tmp_path / "work" / "python-bin")
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    ran, given = done.stdout.strip().split(" ", 1)
    assert given == """["it's", '$HOME']"""
    # The wrapper runs the worker's interpreter: the one amlflow is installed in (its import above worked).
    assert subprocess.run([ran, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(env["PATH"].split(os.pathsep)[0], "python")) as wrapper:
        assert wrapper.read().count(sys.executable) == 1


def test_a_notebooks_pipeline_carries_a_script_run_config_as_its_run_configuration(src):
    from amlflow.factory import yaml_writer

    env = Environment.get(Workspace(), "AzureML-Minimal")
    config = ScriptRunConfig(src, command=["python train.py --epochs 1"], environment=env)
    step = CommandStep(name="train", runconfig=config)
    arguments = step.constructor_arguments
    assert arguments["command"] == ["python train.py --epochs 1"]
    assert arguments["runconfig"] is config.run_config
    document = yaml_writer.pipeline_document(Pipeline(Workspace(), [step]), lambda folder: "snapshot")
    (written,) = document["steps"]
    assert written["kind"] == "CommandStep" and written["source_directory"] == "snapshot"
    assert written["runconfig"]["environment"]["name"] == "AzureML-Minimal"
    assert written["runconfig"]["environment"]["python"] == {"user_managed_dependencies": True}


def test_a_yaml_command_step_loads(tmp_path, src, caplog):
    from amlflow.factory.yaml_loader import dag_from_yaml

    (tmp_path / "cmd_yaml.yaml").write_text(
        "name: cmd_yaml\n"
        "pipeline_data: {model: null}\n"
        "steps:\n"
        "  - kind: CommandStep\n"
        "    name: train\n"
        f"    source_directory: {src}\n"
        "    command: ['python train.py --out', $data.model]\n"
        "    outputs: [$data.model]\n"
        "    runconfig: {environment: {name: AzureML-Minimal, python: {user_managed_dependencies: true}}}\n"
    )
    with caplog.at_level(logging.INFO):
        task = dag_from_yaml(str(tmp_path / "cmd_yaml.yaml")).get_task("train")
    assert (task.command_line, task.arguments) == ("python train.py --out", [{"output": "model"}])
