"""What a notebook sends: its pipeline as the YAML the loader reads, and its code as checked snapshots."""

from __future__ import annotations

import io
import os
import runpy
import tarfile

import pytest

from amlflow.core import Workspace
from amlflow.core.runconfig import RunConfiguration
from amlflow.data.data_reference import DataReference
from amlflow.deployment import take_snapshot
from amlflow.exceptions import SnapshotException
from amlflow.factory import yaml_writer
from amlflow.factory.yaml_loader import dag_from_yaml
from amlflow.pipeline.core import Pipeline, PipelineData, dag_file
from amlflow.pipeline.steps import PythonScriptStep
from amlflow.storage.archives import ArchiveError, pack, unpack
from tests.conftest import ROOT
from tests.unit.factory.test_yaml_twin import shape


def test_the_written_definition_builds_the_same_dag_as_the_python_pipeline(tmp_path):
    with dag_file():
        namespace = runpy.run_path(os.path.join(ROOT, "dags", "compare_models.py"))
    pipeline, python_dag = namespace["pipeline1"], namespace["published_pipeline1"].dag
    document = yaml_writer.pipeline_document(
        pipeline, lambda folder: folder, description=namespace["published_pipeline1"].description
    )
    path = tmp_path / "Compare_Models.yaml"
    path.write_text(yaml_writer.dump(yaml_writer.named(document, "Compare_Models")))
    assert shape(dag_from_yaml(str(path))) == shape(python_dag)
    assert set(document) == {"description", "computes", "data_references", "pipeline_data", "parameters", "steps"}


def test_the_definitions_hash_changes_with_the_graph_and_the_code(tmp_path):
    (tmp_path / "s.py").write_text("")
    out = PipelineData("out")
    step = PythonScriptStep("s.py", arguments=[out, "--n", 1], outputs=[out], source_directory=str(tmp_path))
    pipeline = Pipeline(Workspace(), [step])
    first = yaml_writer.graph_hash(yaml_writer.pipeline_document(pipeline, lambda f: "../snapshots/a"))
    again = yaml_writer.graph_hash(yaml_writer.pipeline_document(pipeline, lambda f: "../snapshots/a"))
    other_code = yaml_writer.graph_hash(yaml_writer.pipeline_document(pipeline, lambda f: "../snapshots/b"))
    assert first == again != other_code


def test_a_runconfig_travels_and_builds_the_same_container_step(tmp_path):
    """The getting-started notebook's extract step: Docker on, Azure ML's default image, a conda package."""
    from amlflow.core.compute import AmlCompute, ComputeTarget
    from amlflow.core.conda_dependencies import CondaDependencies
    from amlflow.core.runconfig import DEFAULT_CPU_IMAGE

    (tmp_path / "extract.py").write_text("")
    ws = Workspace()
    cpu = ComputeTarget.create(ws, "cpu-cluster", AmlCompute.provisioning_configuration(max_nodes=4))
    run_config = RunConfiguration()
    run_config.environment.docker.enabled = True
    run_config.environment.docker.base_image = DEFAULT_CPU_IMAGE
    run_config.environment.python.user_managed_dependencies = False
    run_config.environment.python.conda_dependencies = CondaDependencies.create(conda_packages=["scikit-learn"])
    run_config.environment.environment_variables = {"MODE": "fast"}
    step = PythonScriptStep(
        name="extract_step",
        script_name="extract.py",
        compute_target=cpu,
        runconfig=run_config,
        source_directory=str(tmp_path),
    )
    pipeline = Pipeline(ws, [step])
    path = tmp_path / "getting_started.yaml"
    path.write_text(
        yaml_writer.dump(yaml_writer.named(yaml_writer.pipeline_document(pipeline, lambda f: f), "getting_started"))
    )
    written, direct = (
        dag_from_yaml(str(path)).get_task("extract_step"),
        pipeline.as_dag("direct").get_task("extract_step"),
    )
    assert written.environment_recipe == direct.environment_recipe
    assert written.environment_recipe["conda_substitutions"] == [["scikit-learn", "scikit-learn"]]
    assert (written.pool, written.queue, written.compute_target) == (direct.pool, direct.queue, direct.compute_target)


def test_what_a_definition_can_not_carry_fails_naming_step_and_field(tmp_path):
    (tmp_path / "s.py").write_text("")
    step = PythonScriptStep("s.py", arguments=["--when", object()], source_directory=str(tmp_path))
    with pytest.raises(yaml_writer.DefinitionNotWritable, match=r"step 's\.py', field 'arguments': a object can not"):
        yaml_writer.pipeline_document(Pipeline(Workspace(), [step]), lambda f: f)


def test_every_databricks_library_kind_travels_and_is_the_same_library_again(tmp_path):
    """The JAR notebook's ``jar_libraries=[JarLibrary(...)]``, and each other kind with its optional fields."""
    from amlflow.core.databricks import WheelLibrary
    from amlflow.core.runconfig import EggLibrary, JarLibrary, MavenLibrary, PyPiLibrary, RCranLibrary
    from amlflow.factory.yaml_loader import read_pipeline
    from amlflow.pipeline.steps import DatabricksStep

    libraries = {
        "jar_libraries": [JarLibrary("dbfs:/train-db-dbfs.jar")],
        "egg_libraries": [EggLibrary("dbfs:/lib.egg")],
        "whl_libraries": [WheelLibrary("dbfs:/lib-1.0-py3-none-any.whl")],
        "pypi_libraries": [PyPiLibrary("scikit-learn"), PyPiLibrary("tabulate", repo="https://pypi.example")],
        "rcran_libraries": [RCranLibrary("ada", repo="https://cran.example")],
        "maven_libraries": [MavenLibrary("g:a:1", exclusions=["g:b"]), MavenLibrary("g:c:2", repo="https://m.example")],
    }
    step = DatabricksStep(
        name="DBJarInDBFS",
        num_workers=1,
        main_class_name="com.microsoft.aeva.Main",
        compute_target="dbx-notebook",
        **libraries,
    )
    document = yaml_writer.pipeline_document(Pipeline(Workspace(), [step]), lambda f: f)
    assert document["steps"][0]["jar_libraries"] == [{"library": "dbfs:/train-db-dbfs.jar"}]
    assert document["steps"][0]["maven_libraries"][1] == {"coordinates": "g:c:2", "repo": "https://m.example"}
    path = tmp_path / "DB_JAR_demo.yaml"
    path.write_text(yaml_writer.dump(yaml_writer.named(document, "DB_JAR_demo")))
    (read,) = read_pipeline(str(path)).pipeline.steps
    assert read.libraries == {**dict.fromkeys(read.libraries), **libraries}
    assert read.library_specs() == step.library_specs()


def test_a_written_library_may_be_its_one_path_and_a_wrong_field_is_named(tmp_path):
    from amlflow.core.runconfig import JarLibrary
    from amlflow.factory.yaml_errors import PipelineDefinitionError
    from amlflow.factory.yaml_loader import read_pipeline

    text = """\
steps:
  - kind: DatabricksStep
    name: jar
    num_workers: 1
    main_class_name: com.microsoft.aeva.Main
    compute_target: dbx-notebook
    jar_libraries: [dbfs:/a.jar]
"""
    path = tmp_path / "jar.yaml"
    path.write_text(text)
    assert read_pipeline(str(path)).pipeline.steps[0].libraries["jar_libraries"] == [JarLibrary("dbfs:/a.jar")]
    path.write_text(text.replace("[dbfs:/a.jar]", "[{jar: dbfs:/a.jar}]"))
    with pytest.raises(PipelineDefinitionError, match=r"jar\.jar_libraries\[0\]"):
        read_pipeline(str(path))


def test_every_compute_kind_travels_and_is_the_same_target_again(tmp_path):
    from amlflow.core.compute import AdlaCompute, ComputeTarget, DataFactoryCompute, DockerCompute
    from amlflow.factory.yaml_loader import declare_compute

    ws = Workspace()
    targets = [
        ComputeTarget.attach(
            ws, "docker-cpu", DockerCompute.attach_configuration(docker_url="unix:///d.sock", max_nodes=2)
        ),
        ComputeTarget.attach(ws, "adla", AdlaCompute.attach_configuration("rg", "account")),
        ComputeTarget.attach(ws, "adf", DataFactoryCompute.attach_configuration("rg", "factory")),
    ]
    writer = yaml_writer._Writer(lambda f: f)
    for target in targets:
        assert writer._value(target, "t") == f"$compute.{target.name}"
    again = Workspace()
    for name, spec in writer.sections["computes"].items():
        spec = dict(spec)
        rebuilt = declare_compute(again, name, spec.pop("type"), spec)
        original = ws.compute_targets[name]
        assert type(rebuilt) is type(original) and rebuilt.task_placement() == original.task_placement()
    assert (again.compute_targets["adla"].account_name, again.compute_targets["docker-cpu"].docker_url) == (
        "account",
        "unix:///d.sock",
    )


def test_two_data_references_of_one_name_can_not_be_told_apart(tmp_path):
    (tmp_path / "s.py").write_text("")
    ws = Workspace()
    one = DataReference(ws.get_default_datastore(), data_reference_name="raw", path_on_datastore="a")
    two = DataReference(ws.get_default_datastore(), data_reference_name="raw", path_on_datastore="b")
    steps = [
        PythonScriptStep("s.py", name=name, arguments=[ref], inputs=[ref], source_directory=str(tmp_path))
        for name, ref in (("first", one), ("second", two))
    ]
    with pytest.raises(yaml_writer.DefinitionNotWritable, match="two different objects are named 'raw'"):
        yaml_writer.pipeline_document(Pipeline(ws, steps), lambda f: f)


def test_a_snapshot_holds_what_azure_ml_would_and_round_trips(tmp_path):
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "train.py").write_text("print(1)\n")
    (source / "pkg" / "util.py").write_text("x = 1\n")
    (source / "big.csv").write_text("a,b\n")
    (source / ".amlignore").write_text("*.csv\n")
    snapshot = take_snapshot(str(source))
    assert snapshot.files == [".amlignore", "pkg/util.py", "train.py"]
    target = tmp_path / "back"
    target.mkdir()
    assert unpack(pack(str(source), snapshot.files), str(target), 1 << 20) == 3
    from amlflow.storage.manifest import Manifest

    assert Manifest.of_folder(str(target)).fingerprint == snapshot.content_hash


def test_a_snapshot_over_azure_mls_file_limit_fails_with_its_message(tmp_path, monkeypatch):
    import amlflow.deployment as deployment

    for n in range(4):
        (tmp_path / f"f{n}.py").write_text("")
    monkeypatch.setattr(deployment, "SNAPSHOT_MAX_FILES", 3)
    with pytest.raises(SnapshotException, match=r"Your project exceeds the file limit of 3\."):
        take_snapshot(str(tmp_path))
    monkeypatch.setenv("AML_SNAPSHOT_NO_FILE_LIMIT", "1")
    assert len(take_snapshot(str(tmp_path)).files) == 4


@pytest.mark.parametrize(
    ("name", "kind", "message"),
    [
        ("../up.txt", tarfile.REGTYPE, "leaves its folder"),
        ("/abs.txt", tarfile.REGTYPE, "is not a relative path"),
        ("link", tarfile.SYMTYPE, "is a link"),
        ("hard", tarfile.LNKTYPE, "is a link"),
        ("dev", tarfile.CHRTYPE, "not a file or a folder"),
    ],
)
def test_an_archive_entry_that_could_land_outside_is_refused_before_anything_is_written(tmp_path, name, kind, message):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        good = tarfile.TarInfo("first.txt")
        good.size = 1
        tar.addfile(good, io.BytesIO(b"x"))
        bad = tarfile.TarInfo(name)
        bad.type = kind
        bad.linkname = "/etc/passwd" if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
        tar.addfile(bad, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(ArchiveError, match=message):
        unpack(buffer.getvalue(), str(target), 1 << 20)
    assert os.listdir(target) == []
