"""Azure ML's environment names (CondaDependencies, Environment, RunConfiguration) and the DockerCompute
target, as a DAG author writes them, and the operator each step becomes (no Docker engine needed)."""

from __future__ import annotations

import pytest

from amlflow.core import Workspace
from amlflow.core.compute import AmlCompute, ComputeTarget, DockerCompute
from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.environment import DEFAULT_CPU_IMAGE, Environment
from amlflow.core.runconfig import DockerConfiguration, RunConfiguration
from amlflow.exceptions import ComputeTargetException, UserErrorException
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep


def test_conda_dependencies_create_add_and_round_trip_through_the_conda_file(tmp_path):
    deps = CondaDependencies.create(
        pip_packages=["scikit-learn==1.5.0", "pandas"],
        conda_packages=["numpy"],
        python_version="3.11",
        pip_indexurl="https://pypi.example/simple",
    )
    deps.add_pip_package("pandas==2.2.0")  # same name: replaced, not added twice
    deps.add_channel("conda-forge")
    assert deps.pip_packages == ["scikit-learn==1.5.0", "pandas==2.2.0"]
    assert deps.conda_packages == ["numpy"]
    assert deps.get_python_version() == "3.11"
    saved = deps.save(str(tmp_path / "env.yml"))
    again = CondaDependencies(saved)
    assert again == deps
    assert again.pip_options == ["--index-url https://pypi.example/simple"]
    again.remove_pip_package("Scikit_Learn")  # names compare as pip compares them
    assert again.pip_packages == ["pandas==2.2.0"]


def test_conda_dependencies_reject_what_pip_could_not_install():
    with pytest.raises(UserErrorException, match="pip package '--upgrade' is invalid"):
        CondaDependencies().add_pip_package("--upgrade")


def test_environment_recipe_reads_the_image_and_packages_a_user_set(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pinned\ntabulate==0.9.0\n\nrequests  # http\n")
    env = Environment.from_pip_requirements("tabular", str(requirements))
    env.environment_variables["MODE"] = "batch"
    recipe = env.image_recipe()
    assert recipe["pip_packages"] == ["tabulate==0.9.0", "requests"]
    assert recipe["base_image"] is None  # Azure ML's default image: the deployment's [amlflow] docker_base_image
    assert recipe["environment_variables"] == {"MODE": "batch"}
    assert recipe["interpreter"] == "python"

    env.docker.base_image = "registry.local/team/py311:3"
    assert env.image_recipe()["base_image"] == "registry.local/team/py311:3"
    env.docker.base_image = DEFAULT_CPU_IMAGE
    assert env.image_recipe()["base_image"] is None


def test_an_environment_that_is_an_image_installs_nothing():
    env = Environment.from_docker_image("prebuilt", "registry.local/team/scorer:7")
    recipe = env.image_recipe()
    assert recipe["base_image"] == "registry.local/team/scorer:7"
    assert recipe["pip_packages"] == []


def test_settings_amlflow_would_not_apply_fail_instead_of_being_ignored():
    env = Environment("e")
    with pytest.raises(AttributeError):
        env.docker.shm_size = "2g"
    with pytest.raises(UserErrorException, match="shm_size are not supported"):
        DockerConfiguration(use_docker=True, shm_size="2g")
    with pytest.raises(ComputeTargetException, match="max_nodes must be at least 1"):
        DockerCompute.attach_configuration(max_nodes=0)


@pytest.fixture
def scripts(tmp_path):
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text("print('hi')\n")
    return str(tmp_path)


def test_a_step_on_docker_compute_becomes_a_container_task_in_the_targets_pool_and_queue(scripts):
    from amlflow.operators.docker import DockerStepOperator

    ws = Workspace()
    docker = ComputeTarget.attach(
        ws, "docker-gpu", DockerCompute.attach_configuration(docker_url="tcp://10.0.0.5:2376", max_nodes=3)
    )
    step = PythonScriptStep("a.py", compute_target=docker, source_directory=scripts)
    task = Pipeline(ws, [step]).as_dag("on_docker").get_task("a.py")
    assert isinstance(task, DockerStepOperator)
    assert (task.queue, task.pool, task.docker_url) == ("docker-gpu", "docker-gpu", "tcp://10.0.0.5:2376")
    assert task.compute_target["pool_slots_total"] == 3
    # The recipe is part of the compute spec, and so of the reuse fingerprint.
    assert task.compute_target["environment"]["pip_packages"] == []


def test_a_runconfig_with_docker_on_runs_in_a_container_on_its_own_target(scripts):
    from amlflow.operators.docker import DockerStepOperator
    from amlflow.operators.python_script import PythonScriptStepOperator

    ws = Workspace()
    cpu = ComputeTarget.create(ws, "cpu", AmlCompute.provisioning_configuration(max_nodes=2))
    run_config = RunConfiguration(conda_dependencies=CondaDependencies.create(pip_packages=["tabulate==0.9.0"]))
    run_config.target = cpu
    run_config.docker.use_docker = True
    in_docker = PythonScriptStep("a.py", runconfig=run_config, source_directory=scripts)
    in_worker = PythonScriptStep("b.py", compute_target=cpu, source_directory=scripts)
    dag = Pipeline(ws, [in_docker, in_worker]).as_dag("mixed")
    task = dag.get_task("a.py")
    assert isinstance(task, DockerStepOperator)
    assert (task.queue, task.pool) == ("cpu", "cpu")
    assert task.environment_recipe["pip_packages"] == ["tabulate==0.9.0"]
    assert type(dag.get_task("b.py")) is PythonScriptStepOperator


def test_conda_packages_in_a_container_are_installed_with_pip_under_their_names(scripts):
    ws = Workspace()
    run_config = RunConfiguration(
        conda_dependencies=CondaDependencies.create(conda_packages=["scikit-learn=1.5", "conda-forge::tabulate"])
    )
    run_config.environment.docker.enabled = True
    step = PythonScriptStep("a.py", runconfig=run_config, source_directory=scripts)
    assert Pipeline(ws, [step]).validate() == []
    recipe = Pipeline(ws, [step]).as_dag("conda").get_task("a.py").environment_recipe
    assert recipe["pip_packages"] == ["scikit-learn==1.5.*", "tabulate"]
    assert recipe["conda_substitutions"] == [
        ["scikit-learn=1.5", "scikit-learn==1.5.*"],
        ["conda-forge::tabulate", "tabulate"],
    ]


def test_packages_a_worker_run_step_can_not_get_are_reported_by_validate(scripts):
    from amlflow.core.environment import SparkPackage

    ws = Workspace()
    packages = CondaDependencies.create(conda_packages=["numpy", "amlflow-no-such-package"], pip_packages=["pandas<1"])
    run_config = RunConfiguration(conda_dependencies=packages)
    run_config.environment.spark.packages = [SparkPackage("com.microsoft.azure", "azure-eventhubs-spark_2.11", "2.3.1")]
    step = PythonScriptStep("a.py", runconfig=run_config, source_directory=scripts)
    errors = Pipeline(ws, [step]).validate()
    assert len(errors) == 2
    assert errors[0].startswith("step 'a.py', field 'runconfig': environment 'default-environment': Spark packages")
    # numpy is installed here; the others are missing, or at a version the step excludes.
    assert "packages this Python does not have (amlflow-no-such-package, pandas<1)" in errors[1]


def test_with_conda_channels_conda_packages_are_solved_from_them_not_substituted(scripts, monkeypatch):
    from amlflow.provider import get_provider_info

    option = get_provider_info()["config"]["amlflow"]["options"]["conda_channels"]
    assert option["default"] == ""
    monkeypatch.setenv("AIRFLOW__AMLFLOW__CONDA_CHANNELS", "file:///srv/channel, https://conda.example/forge")
    ws = Workspace()
    packages = CondaDependencies.create(conda_packages=["amlflowdemo=1.0", "python=3.11"], pip_packages=["tabulate"])
    run_config = RunConfiguration(conda_dependencies=packages)
    run_config.environment.docker.enabled = True
    step = PythonScriptStep("a.py", runconfig=run_config, source_directory=scripts)
    recipe = Pipeline(ws, [step]).as_dag("conda_channels").get_task("a.py").environment_recipe
    assert recipe["conda_packages"] == ["amlflowdemo=1.0"]  # python is the image's
    assert recipe["conda_channels"] == ["file:///srv/channel", "https://conda.example/forge"]
    assert recipe["pip_packages"] == ["tabulate"]
    assert recipe["conda_substitutions"] == []

    monkeypatch.setenv("AIRFLOW__AMLFLOW__CONDA_CHANNELS", "")
    recipe = Pipeline(ws, [step]).as_dag("conda_channels").get_task("a.py").environment_recipe
    assert "conda_packages" not in recipe and "conda_channels" not in recipe
    assert recipe["pip_packages"] == ["tabulate", "amlflowdemo==1.0.*"]
