"""``ScriptRunConfig``, the distributed configurations and ``Environment.get`` / ``register`` / ``list``."""

from __future__ import annotations

import logging

import pytest

from amlflow.core import Environment, ScriptRunConfig, Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.core.runconfig import (
    DockerConfiguration,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    TensorflowConfiguration,
    distributed_problem,
    process_count,
)
from amlflow.exceptions import UserErrorException


def test_azure_ml_import_paths_of_the_distributed_configurations():
    import amlflow.core.runconfig as runconfig

    for name in ("MpiConfiguration", "PyTorchConfiguration", "TensorflowConfiguration", "DockerConfiguration"):
        assert name in runconfig.__all__
        assert isinstance(getattr(runconfig, name), type)


def test_defaults_are_azure_mls():
    src = ScriptRunConfig(source_directory="src", script="train.py", arguments=["--epochs", 3])
    assert (src.source_directory, src.script, src.arguments, src.command) == ("src", "train.py", ["--epochs", 3], None)
    assert src.run_config.target == "local"
    assert src.run_config.environment.name == "default-environment"
    assert src.run_config.node_count == 1 and process_count(src.run_config) == 1
    assert src.run_config.max_run_duration_seconds == ScriptRunConfig.MAX_DURATION_SECONDS_DEFAULT == 2592000
    assert (MpiConfiguration().process_count_per_node, MpiConfiguration().node_count) == (1, 1)
    assert (TensorflowConfiguration().worker_count, TensorflowConfiguration().parameter_server_count) == (1, 1)
    torch = PyTorchConfiguration()
    assert (torch.communication_backend, torch.process_count, torch.node_count) == ("nccl", None, 1)


def test_compute_target_environment_and_docker_go_into_its_run_config():
    ws = Workspace()
    cpu = ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=2))
    env = Environment("mine")
    env.docker.enabled = True
    src = ScriptRunConfig("src", command="python train.py", compute_target=cpu, environment=env)
    assert src.run_config.target is cpu
    assert src.run_config.environment is env
    assert src.run_config.uses_docker
    docker = DockerConfiguration(use_docker=False)
    assert (
        ScriptRunConfig("src", command="ls", environment=env, docker_runtime_config=docker).run_config.docker is docker
    )


def test_a_distributed_config_sets_azure_mls_framework_communicator_and_node_count():
    mpi = ScriptRunConfig("src", command="x", distributed_job_config=MpiConfiguration(2, node_count=3)).run_config
    assert (mpi.framework, mpi.communicator, mpi.node_count, process_count(mpi)) == ("Python", "IntelMpi", 3, 6)
    tf = ScriptRunConfig("src", command="x", distributed_job_config=TensorflowConfiguration(4, 2)).run_config
    assert (tf.framework, tf.communicator, tf.node_count, process_count(tf)) == ("TensorFlow", "ParameterServer", 4, 6)
    torch = PyTorchConfiguration("Gloo", process_count=4, node_count=1)
    pt = ScriptRunConfig("src", command="x", distributed_job_config=torch).run_config
    assert (pt.framework, pt.communicator, pt.node_count, process_count(pt)) == ("PyTorch", "gloo", 1, 4)


def test_one_node_one_process_is_not_distributed_and_more_is_refused_with_what_to_do():
    one = ScriptRunConfig("src", command="x", distributed_job_config=MpiConfiguration(node_count=1))
    assert distributed_problem(one.run_config) is None
    assert distributed_problem(RunConfiguration()) is None
    two = ScriptRunConfig("src", command="x", distributed_job_config=MpiConfiguration(node_count=2))
    problem = distributed_problem(two.run_config)
    assert "not supported by amlflow" in problem and "node_count=2" in problem
    assert "drop distributed_job_config" in problem and "ParallelRunStep" in problem and "DatabricksStep" in problem
    # Azure ML's default TensorFlow configuration is one worker and one parameter server: two tasks.
    assert distributed_problem(
        ScriptRunConfig("src", command="x", distributed_job_config=TensorflowConfiguration()).run_config
    )


def test_azure_mls_errors():
    with pytest.raises(UserErrorException, match="'distributed_job_config' must be an"):
        ScriptRunConfig("src", command="x", distributed_job_config={"node_count": 2})
    with pytest.raises(UserErrorException, match="'docker_runtime_config' must be a 'DockerConfiguration' object"):
        ScriptRunConfig("src", command="x", docker_runtime_config={"use_docker": True})
    with pytest.raises(UserErrorException, match=r"Mpi is not a supported backend.*'Nccl' or 'Gloo'"):
        PyTorchConfiguration("Mpi")
    with pytest.raises(UserErrorException, match="Both command and script/argument properties cannot be used"):
        ScriptRunConfig("src", script="train.py", command="python train.py")
    with pytest.raises(UserErrorException, match="resume_from is not supported by amlflow"):
        ScriptRunConfig("src", script="train.py", resume_from="checkpoints")


def test_a_given_run_config_wins_and_the_ignored_arguments_are_warned_about(caplog):
    run_config = RunConfiguration(script="train.py", arguments=["--a", 1])
    with caplog.at_level(logging.WARNING, logger="amlflow.core.script_run_config"):
        src = ScriptRunConfig("src", run_config=run_config, compute_target="cpu-cluster")
    assert src.run_config is run_config
    assert (src.script, src.arguments) == ("train.py", ["--a", 1])
    assert "the following parameters will be ignored: 'compute_target'" in caplog.text


# -- Environment.get / register / list ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["AzureML-TensorFlow-2.3-GPU", "AzureML-sklearn-0.24-ubuntu18.04-py37-cpu", "AzureML-Minimal"]
)
def test_a_curated_environment_runs_on_the_workers_python_and_says_so(name, caplog, local_root):
    with caplog.at_level(logging.INFO, logger="amlflow.core.environment_registry"):
        env = Environment.get(Workspace(), name=name)
    assert env.name == name
    assert env.python.user_managed_dependencies and not env.docker.enabled
    assert env.image_recipe()["pip_packages"] == []
    assert "runs it on the worker's own Python" in caplog.text


def test_an_unknown_environment_gets_azure_mls_error(local_root):
    with pytest.raises(UserErrorException, match=r"Error retrieving the environment definition\. Code: 404") as error:
        Environment.get(Workspace(), name="no-such-env")
    assert "No definition exists for Environment: no-such-env" in str(error.value)


def test_label_is_refused_and_with_version_as_azure_ml(local_root):
    with pytest.raises(UserErrorException, match="Only one of version or label can be specified"):
        Environment.get(Workspace(), "AzureML-Minimal", version="1", label="prod")
    with pytest.raises(UserErrorException, match="amlflow has no environment labels"):
        Environment.get(Workspace(), "AzureML-Minimal", label="prod")


def test_register_versions_an_environment_in_the_default_datastore(local_root):
    ws = Workspace()
    env = Environment("sklearn-env")
    env.python.conda_dependencies.add_pip_package("scikit-learn")
    env.environment_variables["MODE"] = "fast"
    first = env.register(ws)
    assert first.version == "1"
    assert env.register(ws).version == "1"  # the same content: the same version, as in Azure ML
    env.environment_variables["MODE"] = "slow"
    assert env.register(ws).version == "2"
    assert (local_root / "workspaceblobstore" / "amlflow-environments" / "sklearn-env" / "2.json").is_file()

    latest = Environment.get(ws, "sklearn-env")
    assert (latest.version, latest.environment_variables) == ("2", {"MODE": "slow"})
    assert latest.python.conda_dependencies.pip_packages == ["scikit-learn"]
    assert Environment.get(ws, "sklearn-env", version="1").environment_variables == {"MODE": "fast"}
    with pytest.raises(UserErrorException, match="No definition exists for Environment: sklearn-env, version 3"):
        Environment.get(ws, "sklearn-env", version="3")
    Environment("other").register(ws)
    listed = Environment.list(ws)
    assert sorted(listed) == ["other", "sklearn-env"] and listed["sklearn-env"].version == "2"


def test_curated_prefixes_are_reserved(local_root):
    with pytest.raises(UserErrorException, match='the prefixes "Microsoft" and "AzureML" are reserved'):
        Environment("AzureML-Mine").register(Workspace())
