"""Microsoft's ParallelRunStep notebooks (``machine-learning-pipelines/parallel-run/``), imports renamed.

Each notebook's code, cell by cell, as one script in its own process, on the session's stack. The data and
models are small stand-ins made on the spot (marked ``# test``): digit "images" are text files holding the
digit, the MNIST model is a JSON file, the iris model a tiny pickled classifier trained locally; the
notebooks' sample blob containers become folders of the default datastore, and their environments list
no TensorFlow or pinned scikit-learn, which the workers do not have. What the notebooks read back (the
``append_row`` file, through ``get_output_data(...).download``) is asserted here.
"""

from __future__ import annotations

import os

import pytest

from tests.integration.test_notebook_submit import notebook_outcome, start_notebook_text

pytestmark = pytest.mark.integration

MNIST_NOTEBOOK = """
import json, os  # test
import amlflow.core
from amlflow.core import Workspace
print("SDK version:", amlflow.core.VERSION)
ws = Workspace.from_config()

from amlflow.core.compute import AmlCompute, ComputeTarget
compute_name = os.environ.get("AML_COMPUTE_CLUSTER_NAME", "cpu-cluster")
compute_min_nodes = os.environ.get("AML_COMPUTE_CLUSTER_MIN_NODES", 0)
compute_max_nodes = os.environ.get("AML_COMPUTE_CLUSTER_MAX_NODES", 4)
vm_size = os.environ.get("AML_COMPUTE_CLUSTER_SKU", "STANDARD_D2_V2")
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
    if compute_target and type(compute_target) is AmlCompute:
        print('found compute target. just use it. ' + compute_name)
else:
    print('creating a new compute target...')
    provisioning_config = AmlCompute.provisioning_configuration(vm_size = vm_size,
                                                                min_nodes = compute_min_nodes,
                                                                max_nodes = compute_max_nodes)
    compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)
    compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

from amlflow.core.datastore import Datastore
def_data_store = ws.get_default_datastore()
mnist_data = def_data_store  # test: the notebook's sample container is a folder of the default datastore
os.makedirs("mnist", exist_ok=True)  # test: 12 "images", each a text file holding its digit
for n in range(12):
    with open(f"mnist/{n}.png", "w") as handle:
        handle.write(str(n % 10))
mnist_data.upload("mnist", "mnist", overwrite=True, show_progress=False)  # test

from amlflow.core.dataset import Dataset
path_on_datastore = mnist_data.path('mnist')
input_mnist_ds = Dataset.File.from_files(path=path_on_datastore, validate=False)

from amlflow.data.dataset_consumption_config import DatasetConsumptionConfig
from amlflow.pipeline.core import PipelineParameter
pipeline_param = PipelineParameter(name="mnist_param", default_value=input_mnist_ds)
input_mnist_ds_consumption = DatasetConsumptionConfig("minist_param_config", pipeline_param).as_mount()

from amlflow.pipeline.core import Pipeline, PipelineData
output_dir = PipelineData(name="inferences", datastore=def_data_store)

model_dir = 'models'
if not os.path.isdir(model_dir):
    os.mkdir(model_dir)
with open(os.path.join(model_dir, "mnist-model.json"), "w") as handle:  # test: instead of the download
    json.dump({"shift": 0}, handle)

from amlflow.core.model import Model
model = Model.register(model_path="models/",
                       model_name="mnist-prs",
                       tags={'pretrained': "mnist"},
                       description="Mnist trained tensorflow model",
                       workspace=ws)

scripts_folder = "Code"
script_file = "digit_identification.py"
with open(os.path.join(scripts_folder, script_file)) as inference_file:
    print(inference_file.read())

from amlflow.core import Environment
from amlflow.core.runconfig import CondaDependencies, DEFAULT_CPU_IMAGE
batch_conda_deps = CondaDependencies.create(python_version="3.11",  # test: no tensorflow on the workers
                                            pip_packages=["azureml-core", "azureml-dataset-runtime[fuse]"])
batch_env = Environment(name="batch_environment")
batch_env.python.conda_dependencies = batch_conda_deps
batch_env.docker.base_image = DEFAULT_CPU_IMAGE

from amlflow.pipeline.steps import ParallelRunStep, ParallelRunConfig
parallel_run_config = ParallelRunConfig(
    source_directory=scripts_folder,
    entry_script=script_file,
    mini_batch_size=PipelineParameter(name="batch_size_param", default_value="5"),
    error_threshold=10,
    output_action="append_row",
    append_row_file_name="mnist_outputs.txt",
    environment=batch_env,
    compute_target=compute_target,
    process_count_per_node=PipelineParameter(name="process_count_param", default_value=2),
    node_count=2
)
parallelrun_step = ParallelRunStep(
    name="predict-digits-mnist",
    parallel_run_config=parallel_run_config,
    inputs=[ input_mnist_ds_consumption ],
    output=output_dir,
    allow_reuse=False
)

from amlflow.core import Experiment
pipeline = Pipeline(workspace=ws, steps=[parallelrun_step])
experiment = Experiment(ws, 'digit_identification')
pipeline_run = experiment.submit(pipeline)
pipeline_run
pipeline_run.wait_for_completion(show_output=True)

import pandas as pd
import tempfile
batch_run = pipeline_run.find_step_run(parallelrun_step.name)[0]
batch_output = batch_run.get_output_data(output_dir.name)
target_dir = tempfile.mkdtemp()
batch_output.download(local_path=target_dir)
result_file = os.path.join(target_dir, batch_output.path_on_datastore, parallel_run_config.append_row_file_name)
df = pd.read_csv(result_file, delimiter=":", header=None)
df.columns = ["Filename", "Prediction"]
print("Prediction has ", df.shape[0], " rows")
first = df  # test

path_on_datastore = mnist_data.path('mnist/0.png')
single_image_ds = Dataset.File.from_files(path=path_on_datastore, validate=False)
pipeline_run_2 = experiment.submit(pipeline,
                                   pipeline_parameters={"mnist_param": single_image_ds,
                                                        "batch_size_param": "1",
                                                        "process_count_param": 1}
)
pipeline_run_2
pipeline_run_2.wait_for_completion(show_output=True)
second = pipeline_run_2.find_step_run(parallelrun_step.name)[0].get_output_data(output_dir.name)  # test
second_dir = tempfile.mkdtemp()  # test
second.download(local_path=second_dir)  # test
with open(os.path.join(second_dir, second.path_on_datastore, "mnist_outputs.txt")) as handle:  # test
    second_rows = handle.read().splitlines()  # test
steps = [step.name for step in pipeline_run.get_steps()]  # test
print("RESULT " + json.dumps({"rows": sorted(first.astype(str).values.tolist()), "second": second_rows,
                              "status": pipeline_run.get_status(), "steps": steps,
                              "run_id": pipeline_run.id, "dag_id": pipeline_run.pipeline_id}))  # test
"""

DIGIT_IDENTIFICATION = """
import json
import os

from amlflow.core import Model


def init():
    global g_model
    model_path = Model.get_model_path("mnist-prs")
    with open(os.path.join(model_path, "mnist-model.json")) as handle:
        g_model = json.load(handle)


def run(mini_batch):
    print(f'run method start: {__file__}, run({mini_batch})')
    resultList = []
    for image in mini_batch:
        with open(image) as handle:
            digit = int(handle.read()) + g_model["shift"]
        resultList.append("{}: {}".format(os.path.basename(image), digit))
    return resultList
"""


@pytest.fixture(scope="module")
def notebooks(airflow_stack, tmp_path_factory):
    """Every notebook of this module, started at once (each mostly waits on Airflow); results as they end."""
    control = tmp_path_factory.mktemp("control")
    started = {}
    for name, (text, files) in NOTEBOOKS.items():
        notebook = text.replace("CONTROL_DIR", repr(str(control)))
        started[name] = start_notebook_text(airflow_stack, tmp_path_factory.mktemp(name), notebook, files)
    outcomes: dict[str, dict] = {}

    def outcome(name: str) -> dict:
        if name not in outcomes:
            outcomes[name] = notebook_outcome(started[name], timeout=600)
        return outcomes[name]

    yield airflow_stack, outcome, control
    for process in started.values():
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def mnist(notebooks):
    stack, outcome, _control = notebooks
    return stack, outcome("mnist")


def test_the_mnist_notebook_scores_every_file_once_in_mini_batches(mnist):
    _stack, result = mnist
    assert result["status"] == "Finished"
    assert result["rows"] == sorted([f"{n}.png", str(n % 10)] for n in range(12))
    assert result["steps"] == ["predict-digits-mnist"]


def test_the_second_submission_reads_the_one_image_it_was_given(mnist):
    _stack, result = mnist
    assert result["second"] == ["0.png: 0"]


def test_each_mini_batch_is_a_mapped_task_instance_visible_over_the_rest_api(mnist):
    stack, result = mnist
    path = f"/api/v2/dags/{result['dag_id']}/dagRuns/{result['run_id']}/taskInstances/predict-digits-mnist.mini_batch"
    status, answer = stack.request("GET", f"{path}/listMapped")
    assert status == 200, answer
    mapped = answer["task_instances"]
    assert [ti["map_index"] for ti in mapped] == [0, 1, 2]  # 12 files, 5 per mini-batch
    assert {ti["state"] for ti in mapped} == {"success"}
    assert mapped[2]["rendered_map_index"].startswith("2: ")


IRIS_NOTEBOOK = """
import json, os, pickle, sys  # test
import amlflow.core
from amlflow.core import Workspace
print("SDK version:", amlflow.core.VERSION)
ws = Workspace.from_config()

from amlflow.core.compute import AmlCompute, ComputeTarget
compute_name = os.environ.get("AML_COMPUTE_CLUSTER_NAME", "cpu-cluster")
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
else:
    provisioning_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=4)
    compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)
    compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

from amlflow.core.datastore import Datastore
iris_data = ws.get_default_datastore()  # test: the sample container is a folder of the default datastore
os.makedirs("iris", exist_ok=True)  # test: 150 flowers, three kinds told apart by petal length
with open("iris/iris.csv", "w") as handle:
    handle.write('"sepal.length","sepal.width","petal.length","petal.width","variety"\\n')
    for n in range(150):
        kind, petal = [("Setosa", 1.4), ("Versicolor", 4.3), ("Virginica", 5.6)][n % 3]
        sepal = f"{5 + n % 7 / 10:.1f},{3 + n % 5 / 10:.1f}"
        handle.write(f"{sepal},{petal + n % 4 / 10:.1f},{n % 3 / 2 + 0.2:.1f},{kind}\\n")
iris_data.upload("iris", "iris", overwrite=True, show_progress=False)  # test

from amlflow.core.dataset import Dataset
iris_ds_name = 'iris_data'
path_on_datastore = iris_data.path('iris/')
input_iris_ds = Dataset.Tabular.from_delimited_files(path=path_on_datastore, validate=False)
named_iris_ds = input_iris_ds.as_named_input(iris_ds_name)

from amlflow.pipeline.core import PipelineData
datastore = ws.get_default_datastore()
output_folder = PipelineData(name='inferences', datastore=datastore)

sys.path.insert(0, "Code")  # test: a tiny classifier trained here instead of the download
from iris_model import PetalLengthClassifier  # test
os.makedirs("iris_model.pkl", exist_ok=True)  # test
with open("iris_model.pkl/iris_model.pkl", "wb") as handle:  # test
    pickle.dump(PetalLengthClassifier().fit(input_iris_ds.to_pandas_dataframe()), handle)  # test

from amlflow.core.model import Model
model = Model.register(model_path = "iris_model.pkl/iris_model.pkl",
                       model_name = "iris-prs",
                       tags = {'pretrained': "iris"},
                       workspace = ws)

scripts_folder = "Code"
script_file = "iris_score.py"

from amlflow.core import Environment
from amlflow.core.runconfig import CondaDependencies
predict_conda_deps = CondaDependencies.create(python_version="3.11",  # test: the workers' own packages
                                              pin_sdk_version=False,
                                              pip_packages=["pandas", "azureml-core", "azureml-dataset-runtime[fuse]"])
predict_env = Environment(name="predict_environment")
predict_env.python.conda_dependencies = predict_conda_deps
predict_env.spark.precache_packages = False

from amlflow.pipeline.steps import ParallelRunStep, ParallelRunConfig
parallel_run_config = ParallelRunConfig(
    source_directory=scripts_folder,
    entry_script=script_file,
    mini_batch_size='1KB',
    error_threshold=5,
    output_action='append_row',
    append_row_file_name="iris_outputs.txt",
    environment=predict_env,
    compute_target=compute_target,
    node_count=2,
    run_invocation_timeout=600
)
distributed_csv_iris_step = ParallelRunStep(
    name='example-iris',
    inputs=[named_iris_ds],
    output=output_folder,
    parallel_run_config=parallel_run_config,
    arguments=['--model_name', 'iris-prs'],
    allow_reuse=False
)

from amlflow.core import Experiment
from amlflow.pipeline.core import Pipeline
pipeline = Pipeline(workspace=ws, steps=[distributed_csv_iris_step])
pipeline_run = Experiment(ws, 'iris-prs').submit(pipeline)
pipeline_run.wait_for_completion(show_output=True)

import pandas as pd
import tempfile
prediction_run = pipeline_run.find_step_run(distributed_csv_iris_step.name)[0]
prediction_output = prediction_run.get_output_data(output_folder.name)
target_dir = tempfile.mkdtemp()
prediction_output.download(local_path=target_dir)
result_file = os.path.join(target_dir, prediction_output.path_on_datastore, parallel_run_config.append_row_file_name)
df = pd.read_csv(result_file, delimiter=" ", header=None)
df.columns = ["sepal.length", "sepal.width", "petal.length", "petal.width", "variety"]
print("Prediction has ", df.shape[0], " rows")
random_subset = df.sample(n=20)
print("RESULT " + json.dumps({"rows": int(df.shape[0]), "varieties": df["variety"].value_counts().to_dict(),
                              "run_id": pipeline_run.id, "dag_id": pipeline_run.pipeline_id}))  # test
"""

IRIS_MODEL = """
class PetalLengthClassifier:
    def fit(self, frame):
        self.centers = frame.groupby("variety")["petal.length"].mean().to_dict()  # Setosa, Versicolor, Virginica
        return self

    def predict(self, frame):
        import numpy as np

        lengths = frame["petal.length"].to_numpy()
        names = list(self.centers)
        distances = np.abs(lengths[:, None] - np.array([self.centers[n] for n in names])[None, :])
        # Class numbers, not names: pandas 3 can not put a 2-D array of strings in a column (the notebook's
        # reshape((num_rows, 1)) makes one), which pandas 1.4 could.
        return distances.argmin(axis=1)
"""

IRIS_SCORE = """
import pickle
import argparse

from amlflow.core.model import Model

from amlflow_user.parallel_run import EntryScript


def init():
    global iris_model

    logger = EntryScript().logger
    logger.info("init() is called.")

    parser = argparse.ArgumentParser(description="Iris model serving")
    parser.add_argument('--model_name', dest="model_name", required=True)
    args, unknown_args = parser.parse_known_args()

    model_path = Model.get_model_path(args.model_name)
    with open(model_path, 'rb') as model_file:
        iris_model = pickle.load(model_file)


def run(input_data):
    logger = EntryScript().logger
    logger.info("run() is called with: {}.".format(input_data))

    num_rows, num_cols = input_data.shape
    pred = iris_model.predict(input_data).reshape((num_rows, 1))

    result = input_data.drop(input_data.columns[4:], axis=1)
    result['variety'] = pred

    return result
"""


def test_the_iris_notebook_scores_a_tabular_dataset_in_row_mini_batches(notebooks):
    airflow_stack, outcome, _control = notebooks
    result = outcome("iris")
    assert result["rows"] == 150
    assert result["varieties"] == {"0": 50, "1": 50, "2": 50}  # every flower told apart by its petal
    path = f"/api/v2/dags/{result['dag_id']}/dagRuns/{result['run_id']}/taskInstances/example-iris.mini_batch"
    _status, answer = airflow_stack.request("GET", f"{path}/listMapped")
    assert len(answer["task_instances"]) > 1  # '1KB' of a 4 KB table: several mini-batches of rows


THRESHOLD_NOTEBOOK = """
import json, os  # test
from amlflow.core import Workspace, Experiment, Environment
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.core.dataset import Dataset
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
compute_target = ws.compute_targets.get("cpu-cluster") or ComputeTarget.create(
    ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=4))
store = ws.get_default_datastore()
os.makedirs("numbers", exist_ok=True)
for n in range(8):
    with open(f"numbers/{n}.txt", "w") as handle:
        handle.write(str(n))
store.upload("numbers", "threshold_numbers", overwrite=True, show_progress=False)
numbers = Dataset.File.from_files(path=(store, "threshold_numbers/*.txt"))

runs = {}
for threshold in (2, 1):
    config = ParallelRunConfig(source_directory="Code", entry_script="picky.py", mini_batch_size="1",
                               error_threshold=threshold, output_action="append_row", run_max_try=2,
                               environment=Environment(name="plain"), compute_target=compute_target, node_count=1,
                               process_count_per_node=2)
    step = ParallelRunStep(name="picky", parallel_run_config=config, inputs=[numbers.as_named_input("numbers")],
                           output=PipelineData("rows", datastore=store), allow_reuse=False)
    run = Experiment(ws, f"threshold-{threshold}").submit(Pipeline(workspace=ws, steps=[step]))
    run.wait_for_completion(show_output=False, raise_on_error=False)
    runs[threshold] = {"status": run.get_status(), "run_id": run.id, "dag_id": run.pipeline_id}
    if run.get_status() == "Finished":
        output = run.find_step_run("picky")[0].get_output_data("rows")
        output.download(local_path=f"out{threshold}")
        with open(os.path.join(f"out{threshold}", output.path_on_datastore, "parallel_run_step.txt")) as handle:
            runs[threshold]["rows"] = sorted(handle.read().split())
print("RESULT " + json.dumps(runs))
"""

PICKY = """
import os

def run(mini_batch):
    for path in mini_batch:
        if os.path.basename(path) in ("3.txt", "6.txt"):
            raise ValueError(f"can not read {os.path.basename(path)}")
    return [open(path).read() for path in mini_batch]
"""


def test_failures_within_error_threshold_pass_and_above_it_fail_naming_the_files(notebooks):
    airflow_stack, outcome, _control = notebooks
    runs = outcome("threshold")
    tolerated, refused = runs["2"], runs["1"]
    assert tolerated["status"] == "Finished"
    assert tolerated["rows"] == ["0", "1", "2", "4", "5", "7"]
    log = airflow_stack.task_log(tolerated["dag_id"], tolerated["run_id"], "picky")
    assert "Within the error thresholds, these failed" in log and "ValueError: can not read 3.txt" in log
    assert refused["status"] == "Failed"
    log = airflow_stack.task_log(refused["dag_id"], refused["run_id"], "picky")
    assert "2 failed items (files or rows) exceed error_threshold 1" in log
    assert "mini-batch 3 (3.txt): ValueError: can not read 3.txt" in log
    assert "mini-batch 6 (6.txt): ValueError: can not read 6.txt" in log


PARTITION_PER_FOLDER_NOTEBOOK = """
import json, os  # test
from amlflow.core.workspace import Workspace
ws = Workspace.from_config()
datastore = ws.get_default_datastore()

from amlflow.core import Dataset
datastore.upload('test_files/disco', 'dataset_partition_test/user1/winter', overwrite=True, show_progress=False)
datastore.upload('test_files/orchestra', 'dataset_partition_test/user1/fall', overwrite=True, show_progress=False)
datastore.upload('test_files/piano', 'dataset_partition_test/user2/summer', overwrite=True, show_progress=False)
datastore.upload('test_files/spirituality', 'dataset_partition_test/user3/fall', overwrite=True, show_progress=False)
datastore.upload('test_files/piano', 'dataset_partition_test/user4/spring', overwrite=True, show_progress=False)
datastore.upload('test_files/piano', 'dataset_partition_test/user4/fall', overwrite=True, show_progress=False)
partitioned_file_dataset = Dataset.File.from_files(path=(datastore, 'dataset_partition_test/*/*/*.wav'),
                                                   partition_format="dataset_partition_test/{user}/{season}/{genres}.wav",
                                                   validate=False)
partitioned_file_dataset.partition_keys

from amlflow.core.compute import AmlCompute, ComputeTarget
compute_name = os.environ.get("AML_COMPUTE_CLUSTER_NAME", "cpu-cluster")
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
else:
    provisioning_config = AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=2)
    compute_target = ComputeTarget.create(ws, compute_name, provisioning_config)

from amlflow.pipeline.core import Pipeline, PipelineData
output_dir = PipelineData(name="file_dataset_inferences", datastore=datastore)
scripts_folder = "Code"
script_file = "total_file_size.py"

from amlflow.core import Environment
from amlflow.core.runconfig import CondaDependencies, DEFAULT_CPU_IMAGE
batch_conda_deps = CondaDependencies.create(pip_packages=["azureml-core", "azureml-dataset-runtime[fuse]"])
batch_env = Environment(name="batch_environment")
batch_env.python.conda_dependencies = batch_conda_deps
batch_env.docker.base_image = DEFAULT_CPU_IMAGE

from amlflow.pipeline.steps import ParallelRunStep, ParallelRunConfig
parallel_run_config = ParallelRunConfig(
    source_directory=scripts_folder,
    entry_script=script_file,
    partition_keys=['user', 'genres'],
    error_threshold=5,
    output_action='append_row',
    append_row_file_name="file_size_outputs.txt",
    environment=batch_env,
    compute_target=compute_target,
    node_count=2,
    run_invocation_timeout=600
)
parallel_run_step = ParallelRunStep(
    name='summarize-file-size',
    inputs=[partitioned_file_dataset.as_named_input("partitioned_file_input")],
    output=output_dir,
    parallel_run_config=parallel_run_config,
    allow_reuse=False
)

from amlflow.core import Experiment
pipeline = Pipeline(workspace=ws, steps=[parallel_run_step])
pipeline_run = Experiment(ws, 'file-dataset-partition').submit(pipeline)
pipeline_run.wait_for_completion(show_output=True)

import pandas as pd
import tempfile
batch_run = pipeline_run.find_step_run(parallel_run_step.name)[0]
batch_output = batch_run.get_output_data(output_dir.name)
target_dir = tempfile.mkdtemp()
batch_output.download(local_path=target_dir)
result_file = os.path.join(target_dir, batch_output.path_on_datastore, parallel_run_config.append_row_file_name)
df = pd.read_csv(result_file, delimiter=",", header=None)
df.columns = ["File Name", "File Size", "Ratio of Size in Partition", "user", "genres", "Total File Size of Partition"]
print("Prediction has", df.shape[0], "rows")
print("RESULT " + json.dumps({"rows": sorted(df[["user", "genres", "File Size"]].astype(str).values.tolist()),
                              "totals": sorted(set(df["Total File Size of Partition"].astype(int)))}))  # test
"""

TOTAL_FILE_SIZE = """
import os


def init():
    print("Init")


def run(mini_batch, mini_batch_context):
    print(f"run method start: {__file__}, run({mini_batch}, {mini_batch_context})")
    print(f"partition_key_value = {mini_batch_context.partition_key_value}")
    print(f"dataset = {mini_batch_context.dataset}")
    file_name_list = []
    file_size_list = []
    total_file_size_of_mini_batch = 0
    for file_path in mini_batch:
        file_name_list.append(os.path.basename(file_path))
        file_size = os.path.getsize(file_path)
        file_size_list.append(file_size)
        total_file_size_of_mini_batch += file_size
    file_size_ratio_list = [file_size * 1.0 / total_file_size_of_mini_batch for file_size in file_size_list]
    return [
        ",".join([str(x) for x in fields])
        for fields in zip(
            file_name_list,
            file_size_list,
            file_size_ratio_list,
            [mini_batch_context.partition_key_value["user"]] * len(mini_batch),
            [mini_batch_context.partition_key_value["genres"]] * len(mini_batch),
            [total_file_size_of_mini_batch] * len(mini_batch),
        )
    ]
"""

#: the notebook's four sample "recordings", each a file of its own size (a stand-in for the .wav files)
RECORDINGS = {f"test_files/{name}/{name}.wav": "x" * size for name, size in
              (("disco", 10), ("orchestra", 20), ("piano", 30), ("spirituality", 40))}  # fmt: skip


def test_the_partition_per_folder_notebook_runs_one_mini_batch_per_user_and_genre(notebooks):
    _stack, outcome, _control = notebooks
    result = outcome("partition_per_folder")
    assert result["rows"] == [
        ["user1", "disco", "10"],
        ["user1", "orchestra", "20"],
        ["user2", "piano", "30"],
        ["user3", "spirituality", "40"],
        ["user4", "piano", "30"],
        ["user4", "piano", "30"],
    ]
    assert result["totals"] == [10, 20, 30, 40, 60]  # user4's two pianos are one partition


PARTITION_PER_COLUMN_NOTEBOOK = """
import json, os  # test
from amlflow.core.workspace import Workspace
ws = Workspace.from_config()
datastore = ws.get_default_datastore()

oj_sales_path = "./oj.csv"
with open(oj_sales_path, "w") as handle:  # test: a few rows of the orange juice sales instead of the download
    handle.write("WeekStarting,Store,Brand,Quantity,INCOME\\n")
    for week in range(4):
        for store in (2, 5):
            for brand in ("dominicks", "tropicana"):
                handle.write(f"1990-06-{14 + week},{store},{brand},{1000 + week},{store * 10 + week}\\n")
datastore.upload_files([oj_sales_path], ".", "oj_sales_data", overwrite=True, show_progress=False)

from amlflow.core import Dataset
dataset = Dataset.Tabular.from_delimited_files(path=(datastore, 'oj_sales_data/*.csv'))
print(dataset.to_pandas_dataframe())
partitioned_dataset = dataset.partition_by(partition_keys=['Store', 'Brand'],
                                           target=(datastore, "partition_by_key_res"), name="partitioned_oj_data")
partitioned_dataset.partition_keys

from amlflow.core.compute import AmlCompute, ComputeTarget
compute_name = os.environ.get("AML_COMPUTE_CLUSTER_NAME", "cpu-cluster")
if compute_name in ws.compute_targets:
    compute_target = ws.compute_targets[compute_name]
else:
    compute_target = ComputeTarget.create(ws, compute_name, AmlCompute.provisioning_configuration(max_nodes=2))

from amlflow.pipeline.core import Pipeline, PipelineData
output_dir = PipelineData(name="inferences", datastore=datastore)
scripts_folder = "Code"
script_file = "total_income.py"

from amlflow.core import Environment
from amlflow.core.runconfig import CondaDependencies, DEFAULT_CPU_IMAGE
batch_conda_deps = CondaDependencies.create(pip_packages=["azureml-core", "azureml-dataset-runtime[fuse,pandas]"])
batch_env = Environment(name="batch_environment")
batch_env.python.conda_dependencies = batch_conda_deps
batch_env.docker.base_image = DEFAULT_CPU_IMAGE

from amlflow.pipeline.steps import ParallelRunStep, ParallelRunConfig
parallel_run_config = ParallelRunConfig(
    source_directory=scripts_folder,
    entry_script=script_file,
    partition_keys=['Store', 'Brand'],
    error_threshold=5,
    output_action='append_row',
    append_row_file_name="revenue_outputs.txt",
    environment=batch_env,
    compute_target=compute_target,
    node_count=2,
    run_invocation_timeout=600
)
parallel_run_step = ParallelRunStep(
    name='summarize-revenue',
    inputs=[partitioned_dataset.as_named_input("partitioned_tabular_input")],
    output=output_dir,
    parallel_run_config=parallel_run_config,
    allow_reuse=False
)

from amlflow.core import Experiment
pipeline = Pipeline(workspace=ws, steps=[parallel_run_step])
pipeline_run = Experiment(ws, 'tabular-dataset-partition').submit(pipeline)
pipeline_run.wait_for_completion(show_output=True)

import pandas as pd
import tempfile
batch_run = pipeline_run.find_step_run(parallel_run_step.name)[0]
batch_output = batch_run.get_output_data(output_dir.name)
target_dir = tempfile.mkdtemp()
batch_output.download(local_path=target_dir)
result_file = os.path.join(target_dir, batch_output.path_on_datastore, parallel_run_config.append_row_file_name)
with open(result_file) as handle:  # test: the notebook's 19 columns are the full data set's
    rows = [line.split(" ") for line in handle.read().splitlines()]  # test
print("Prediction has ", len(rows), " rows")
print("RESULT " + json.dumps({"rows": rows}))  # test
"""

TOTAL_INCOME = """
def init():
    print("Init")


def run(mini_batch):
    print(f'run method start: {__file__}, run({mini_batch})')
    total_income = mini_batch["INCOME"].sum()
    print(f'total_income = {total_income}')
    mini_batch["total_income"] = total_income

    return mini_batch
"""


def test_the_partition_per_column_notebook_sums_income_per_store_and_brand(notebooks):
    _stack, outcome, _control = notebooks
    result = outcome("partition_per_column")
    rows = result["rows"]
    assert len(rows) == 16  # every row once
    # ... the file's own columns, then the partition columns Store and Brand, then total_income
    totals = {(row[-3], row[-2]): row[-1] for row in rows}
    assert totals == {
        ("2", "dominicks"): "86",
        ("2", "tropicana"): "86",
        ("5", "dominicks"): "206",
        ("5", "tropicana"): "206",
    }


KILLED_NOTEBOOK = """
import json, os  # test
from amlflow.core import Workspace, Experiment, Environment
from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.core.dataset import Dataset
from amlflow.pipeline.core import Pipeline, PipelineData
from amlflow.pipeline.steps import ParallelRunStep, ParallelRunConfig

ws = Workspace.from_config()
compute_target = ws.compute_targets.get("cpu-cluster") or ComputeTarget.create(
    ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=4))
store = ws.get_default_datastore()
os.makedirs("letters", exist_ok=True)
for letter in "abcdef":
    with open(f"letters/{letter}.txt", "w") as handle:
        handle.write(letter)
store.upload("letters", "killed_letters", overwrite=True, show_progress=False)
letters = Dataset.File.from_files(path=(store, "killed_letters/*.txt"))
config = ParallelRunConfig(source_directory="Code", entry_script="fragile.py", mini_batch_size="2", error_threshold=0,
                           output_action="append_row", environment=Environment(name="plain"),
                           compute_target=compute_target, node_count=1, process_count_per_node=2)
step = ParallelRunStep(name="fragile", parallel_run_config=config, inputs=[letters.as_named_input("letters")],
                       output=PipelineData("rows", datastore=store), arguments=["--control", CONTROL_DIR],
                       allow_reuse=False)
run = Experiment(ws, "killed-mini-batch").submit(Pipeline(workspace=ws, steps=[step]))
run.wait_for_completion(show_output=False)
output = run.find_step_run("fragile")[0].get_output_data("rows")
output.download(local_path="out")
with open(os.path.join("out", output.path_on_datastore, "parallel_run_step.txt")) as handle:
    rows = handle.read().split()
print("RESULT " + json.dumps({"rows": rows, "run_id": run.id, "dag_id": run.pipeline_id}))
"""

FRAGILE = """
import argparse
import os
import signal
import time

parser = argparse.ArgumentParser()
parser.add_argument("--control")
CONTROL = parser.parse_known_args()[0].control


def _task_process():
    guard = os.getppid()  # the entry script's process <- its guard <- the mini-batch task
    with open(f"/proc/{guard}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[1])


def run(mini_batch):
    names = [os.path.basename(path)[0] for path in mini_batch]
    marker = os.path.join(CONTROL, "killed")
    if "c" in names and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(_task_process(), signal.SIGKILL)  # the worker is lost in the middle of the mini-batch
        time.sleep(60)
    return names
"""


def test_a_mini_batch_task_killed_mid_batch_is_retried_and_its_rows_appear_once(notebooks):
    airflow_stack, outcome, control = notebooks
    result = outcome("killed")
    assert (control / "killed").exists()
    assert sorted(result["rows"]) == list("abcdef")  # the killed mini-batch's rows once, none lost
    path = f"/api/v2/dags/{result['dag_id']}/dagRuns/{result['run_id']}/taskInstances/fragile.mini_batch"
    _status, answer = airflow_stack.request("GET", f"{path}/listMapped")
    tries = {ti["map_index"]: ti["try_number"] for ti in answer["task_instances"]}
    assert tries == {0: 1, 1: 2, 2: 1}  # c.txt is in mini-batch 1, whose first try was killed


BATCH_SCORING_NOTEBOOK = """
import glob, json  # test
# Check core SDK version number
import amlflow.core

print("SDK version:", amlflow.core.VERSION)

from amlflow.core import Workspace

ws = Workspace.from_config()

from amlflow.core.datastore import Datastore

def_data_store = ws.get_default_datastore()
batchscore_blob = def_data_store  # test: the sample container "sampledata" is a folder of the default datastore
batchscore_blob.upload("batchscoring", "batchscoring", overwrite=True, show_progress=False)  # test: its "images"

from amlflow.core.dataset import Dataset
from amlflow.pipeline.core import PipelineData

input_images = Dataset.File.from_files((batchscore_blob, "batchscoring/images/"))
label_ds = Dataset.File.from_files((batchscore_blob, "batchscoring/labels/"))
output_dir = PipelineData(name="scores", datastore=def_data_store)

input_images = input_images.register(workspace=ws, name="input_images")
label_ds = label_ds.register(workspace=ws, name="label_ds", create_new_version=True)

import os
import tarfile
import urllib.request

if not os.path.isdir("models"):
    os.mkdir("models")

with open("models/inception_v3.ckpt", "w") as handle:  # test: a tiny "checkpoint" instead of the download
    json.dump({"bias": 3}, handle)  # test: its class is (pixel value + bias) modulo the number of labels

import shutil
from amlflow.core.model import Model

# register downloaded model
model = Model.register(model_path="models/inception_v3.ckpt",
                       model_name="inception",
                       tags={"pretrained": "inception"},
                       description="Imagenet trained tensorflow inception",
                       workspace=ws)
# remove the downloaded dir after registration if you wish
shutil.rmtree("models")

from amlflow.core.compute import AmlCompute, ComputeTarget
from amlflow.exceptions import ComputeTargetException
compute_name = "gpu-cluster"

# checks to see if compute target already exists in workspace, else create it
try:
    compute_target = ComputeTarget(workspace=ws, name=compute_name)
except ComputeTargetException:
    config = AmlCompute.provisioning_configuration(vm_size="Standard_NC6s_v3",
                                                   vm_priority="lowpriority",
                                                   min_nodes=0,
                                                   max_nodes=2)

    compute_target = ComputeTarget.create(workspace=ws, name=compute_name, provisioning_configuration=config)
    compute_target.wait_for_completion(show_output=True, min_node_count=None, timeout_in_minutes=20)

from amlflow.core import Environment
from amlflow.core.conda_dependencies import CondaDependencies
from amlflow.core.runconfig import DEFAULT_GPU_IMAGE

cd = CondaDependencies.create(python_version="3.11",  # test: the workers' Python; no pip pin, TensorFlow or mltable
                              pip_packages=["azureml-core"])

env = Environment(name="parallelenv")
env.python.conda_dependencies=cd
env.docker.base_image = DEFAULT_GPU_IMAGE

from amlflow.pipeline.steps import ParallelRunConfig

parallel_run_config = ParallelRunConfig(
    environment=env,
    entry_script="batch_scoring.py",
    source_directory="scripts",
    output_action="append_row",
    append_row_file_name="parallel_run_step.txt",
    mini_batch_size="20",
    error_threshold=1,
    compute_target=compute_target,
    process_count_per_node=2,
    node_count=2
)

from amlflow.pipeline.steps import ParallelRunStep
from datetime import datetime
import uuid

parallel_step_name = "batchscoring-" + datetime.now().strftime("%Y%m%d%H%M")

label_config = label_ds.as_named_input("labels_input").as_mount("/tmp/{}".format(str(uuid.uuid4())))

batch_score_step = ParallelRunStep(
    name=parallel_step_name,
    inputs=[input_images.as_named_input("input_images")],
    output=output_dir,
    arguments=["--model_name", "inception",
               "--labels_dir", label_config],
    side_inputs=[label_config],
    parallel_run_config=parallel_run_config,
    allow_reuse=False
)

from amlflow.core import Experiment
from amlflow.pipeline.core import Pipeline

pipeline = Pipeline(workspace=ws, steps=[batch_score_step])
pipeline_run = Experiment(ws, "Tutorial-Batch-Scoring").submit(pipeline)

# This will output information of the pipeline run, including the link to the details page of portal.
pipeline_run

# Wait the run for completion and show output log to console
pipeline_run.wait_for_completion(show_output=True)

import pandas as pd
import tempfile

batch_run = pipeline_run.find_step_run(batch_score_step.name)[0]
batch_output = batch_run.get_output_data(output_dir.name)

target_dir = tempfile.mkdtemp()
batch_output.download(local_path=target_dir)
result_file = os.path.join(target_dir, batch_output.path_on_datastore, parallel_run_config.append_row_file_name)

df = pd.read_csv(result_file, delimiter=":", header=None)
df.columns = ["Filename", "Prediction"]
print("Prediction has ", df.shape[0], " rows")
df.head(10)

def scored(run):  # test: what a run's step wrote: its rows, and what each init() found
    output = run.find_step_run(batch_score_step.name)[0].get_output_data(output_dir.name)
    folder = tempfile.mkdtemp()
    output.download(local_path=folder)
    folder = os.path.join(folder, output.path_on_datastore)
    frame = pd.read_csv(os.path.join(folder, "parallel_run_step.txt"), delimiter=":", header=None)
    inits = []
    for path in sorted(glob.glob(os.path.join(folder, "init-*.json"))):
        with open(path) as handle:
            inits.append(json.load(handle))
    return {"rows": sorted([name, label.strip()] for name, label in frame.values.tolist()), "inits": inits,
            "status": run.get_status(), "run_id": run.id, "dag_id": run.pipeline_id}

published_pipeline = pipeline_run.publish_pipeline(
    name="Inception_v3_scoring", description="Batch scoring using Inception v3 model", version="1.0")

published_pipeline

from amlflow.core.authentication import InteractiveLoginAuthentication

interactive_auth = InteractiveLoginAuthentication()
auth_header = interactive_auth.get_authentication_header()

import requests

rest_endpoint = published_pipeline.endpoint
response = requests.post(rest_endpoint,
                         headers=auth_header,
                         json={"ExperimentName": "Tutorial-Batch-Scoring",
                               # test: process_count_per_node is not a PipelineParameter of this pipeline;
                               # amlflow refuses unknown parameter names (README, differences)
                               "ParameterAssignments": {}})  # test

try:
    response.raise_for_status()
except Exception:
    raise Exception("Received bad response from the endpoint: {}\\n"
                    "Response Code: {}\\n"
                    "Headers: {}\\n"
                    "Content: {}".format(rest_endpoint, response.status_code, response.headers, response.content))

run_id = response.json().get('Id')
print('Submitted pipeline run: ', run_id)

from amlflow.pipeline.core.run import PipelineRun

published_pipeline_run = PipelineRun(ws.experiments["Tutorial-Batch-Scoring"], run_id)

# Show detail information of the run
published_pipeline_run
published_pipeline_run.wait_for_completion(show_output=False)  # test: the tutorial only shows the run
print("RESULT " + json.dumps({"first": scored(pipeline_run), "rest": scored(published_pipeline_run),  # test
                              "labels_dir": label_config.path_on_compute, "step": batch_score_step.name,
                              "published": published_pipeline.id, "endpoint": rest_endpoint}))
"""

#: the tutorial's scripts/batch_scoring.py: the same arguments, init() and run(), on the stand-ins
BATCH_SCORING = """
import os
import argparse
import json  # test: the stand-in checkpoint is JSON
import uuid  # test

from amlflow.core import Run
from amlflow.core.model import Model
from amlflow.core.dataset import Dataset
from amlflow_user.parallel_run import EntryScript  # test: where init() tells what it found


def get_class_label_dict(labels_dir):
    label = []
    labels_path = os.path.join(labels_dir, 'labels.txt')
    proto_as_ascii_lines = open(labels_path).readlines()  # test: tf.gfile.GFile
    for temp in proto_as_ascii_lines:
        label.append(temp.rstrip())
    return label


def init():
    global g_model, label_dict

    parser = argparse.ArgumentParser(description="Start a tensorflow model serving")
    parser.add_argument('--model_name', dest="model_name", required=True)
    parser.add_argument('--labels_dir', dest="labels_dir", required=True)
    args, _ = parser.parse_known_args()
    label_dict = get_class_label_dict(args.labels_dir)

    model_path = Model.get_model_path(args.model_name)
    with open(model_path) as handle:  # test: instead of tf.train.Saver().restore(g_tf_sess, model_path)
        g_model = json.load(handle)
    record = {"labels_dir": args.labels_dir, "labels": label_dict, "model_path": model_path}  # test
    with open(os.path.join(EntryScript().output_dir, f"init-{uuid.uuid4()}.json"), "w") as handle:  # test
        json.dump(record, handle)  # test


def file_to_tensor(file_path):  # test: an "image" is a text file holding one pixel value
    with open(file_path) as handle:
        return int(handle.read())


def run(mini_batch):
    result_list = []
    for file_path in mini_batch:
        out = file_to_tensor(file_path)
        result = [(out + g_model["bias"]) % len(label_dict)]  # test: the stand-in model's argmax
        result_list.append(os.path.basename(file_path) + ": " + label_dict[result[0]])
    return result_list
"""

#: ImageNet's first classes, the tutorial's labels.txt (one a line) in short
IMAGE_LABELS = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray"]
#: 45 "images" (three mini-batches of at most 20), each a text file holding its pixel value
IMAGES = {f"ILSVRC2012_val_{n:08d}.JPEG": n for n in range(1, 46)}
BATCH_SCORING_FILES = {
    "scripts/batch_scoring.py": BATCH_SCORING,
    "batchscoring/labels/labels.txt": "\n".join(IMAGE_LABELS) + "\n",
    **{f"batchscoring/images/{name}": str(value) for name, value in IMAGES.items()},
}


@pytest.fixture(scope="module")
def batch_scoring(notebooks):
    stack, outcome, _control = notebooks
    return stack, outcome("batch_scoring")


def _expected_scores() -> list[list[str]]:
    """Every image once, with the label the stand-in model gives it (its bias is 3)."""
    return sorted([name, IMAGE_LABELS[(value + 3) % len(IMAGE_LABELS)]] for name, value in IMAGES.items())


def test_the_batch_scoring_tutorial_labels_every_image_once_from_the_mounted_labels(batch_scoring):
    stack, result = batch_scoring
    first = result["first"]
    assert first["status"] == "Finished"
    assert first["rows"] == _expected_scores()
    labels_dir = result["labels_dir"]
    assert labels_dir.startswith("/tmp/") and len(labels_dir) == len("/tmp/") + 36  # the tutorial's /tmp/<uuid>
    # each mini-batch's init() got the side input at that path re-rooted in its own task's working folder
    # (README: concurrent tasks on one worker must not share /tmp/<uuid>), read labels.txt from it, and found
    # the model through Model.get_model_path (the notebook deleted its own copy right after registering it)
    assert len(first["inits"]) == 3
    assert len({init["labels_dir"] for init in first["inits"]}) == 3
    assert not os.path.exists(labels_dir)
    for init in first["inits"]:
        assert init["labels_dir"].endswith(labels_dir) and init["labels_dir"] != labels_dir
        assert init["labels"] == IMAGE_LABELS
        assert os.path.basename(init["model_path"]) == "inception_v3.ckpt"
        assert "/inception/" in init["model_path"]
    path = f"/api/v2/dags/{first['dag_id']}/dagRuns/{first['run_id']}/taskInstances/{result['step']}.mini_batch"
    status, answer = stack.request("GET", f"{path}/listMapped")
    assert status == 200, answer
    mapped = answer["task_instances"]
    assert [ti["map_index"] for ti in mapped] == [0, 1, 2]  # 45 images, mini_batch_size "20"
    assert {ti["state"] for ti in mapped} == {"success"}


def test_the_published_batch_scoring_pipeline_triggered_over_rest_scores_the_same(batch_scoring):
    _stack, result = batch_scoring
    rest, first = result["rest"], result["first"]
    assert rest["status"] == "Finished"
    assert rest["run_id"] != first["run_id"]
    assert rest["rows"] == _expected_scores()
    assert rest["inits"] and all(init["labels_dir"].endswith(result["labels_dir"]) for init in rest["inits"])
    assert all(init["labels"] == IMAGE_LABELS for init in rest["inits"])


#: name -> (notebook, its files), all started at once by the ``notebooks`` fixture
NOTEBOOKS = {
    "mnist": (MNIST_NOTEBOOK, {"Code/digit_identification.py": DIGIT_IDENTIFICATION}),
    "iris": (IRIS_NOTEBOOK, {"Code/iris_score.py": IRIS_SCORE, "Code/iris_model.py": IRIS_MODEL}),
    "threshold": (THRESHOLD_NOTEBOOK, {"Code/picky.py": PICKY}),
    "partition_per_folder": (PARTITION_PER_FOLDER_NOTEBOOK, {"Code/total_file_size.py": TOTAL_FILE_SIZE, **RECORDINGS}),
    "partition_per_column": (PARTITION_PER_COLUMN_NOTEBOOK, {"Code/total_income.py": TOTAL_INCOME}),
    "killed": (KILLED_NOTEBOOK, {"Code/fragile.py": FRAGILE}),
    "batch_scoring": (BATCH_SCORING_NOTEBOOK, BATCH_SCORING_FILES),
}
