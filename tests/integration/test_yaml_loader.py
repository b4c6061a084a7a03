"""The loader in a real DagBag: good pipelines load next to bad ones, whose errors are the check file's
import error (as the dag-processor stores it for the UI and REST API), and a task start parses only its
own pipeline."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.conftest import ROOT

BAD_YAML = """\
pipeline_data: {d: {}}
steps:
  - kind: PythonScriptStep
    name: only
    script_name: train.py
    source_directory: ../compare_models
    outputs: [$data.d]
    allow_reuse: maybe
"""

PYTHON_MODULE = """\
import os

from amlflow.core import Workspace
from amlflow.pipeline.core import Pipeline
from amlflow.pipeline.steps import PythonScriptStep

scripts = os.path.join(os.path.dirname(__file__), "..", "compare_models")
step = PythonScriptStep(script_name="train.py", source_directory=scripts)
Pipeline(Workspace(), [step]).publish(name="python_module")
"""


@pytest.fixture
def dags(tmp_path):
    """A DAG folder as the repo ships it, plus one bad YAML, two good Python modules and a failing one."""
    folder = tmp_path / "dags"
    shutil.copytree(os.path.join(ROOT, "dags"), folder)
    os.remove(folder / "compare_models.py")
    (folder / "pipelines" / "bad_yaml.yaml").write_text(BAD_YAML)
    (folder / "pipelines" / "python_module.py").write_text(PYTHON_MODULE)
    # publishes a pipeline, then fails: what it published must not be registered either
    failing = PYTHON_MODULE.replace('"python_module"', '"half_written"') + "raise KeyError('x')\n"
    (folder / "pipelines" / "failing_module.py").write_text(failing)
    (folder / "pipelines" / "publishes_renamed.py").write_text(PYTHON_MODULE.replace('"python_module"', '"renamed"'))
    return folder


EXPECTED_ERRORS = [
    "pipelines/bad_yaml.yaml:8:18: only.allow_reuse: 'maybe' is not of type 'boolean'",
    "pipelines/failing_module.py:10:1: pipeline: KeyError: 'x'",
]


def test_good_pipelines_load_and_bad_ones_are_the_check_files_import_error(dags):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(dags), safe_mode=True)
    assert sorted(bag.dags) == ["Compare_Models_YAML", "python_module", "renamed"]
    assert all(dag.fileloc == str(dags / "pipelines_loader.py") for dag in bag.dags.values())
    assert list(bag.import_errors) == [str(dags / "pipelines_check.py")]
    error = bag.import_errors[str(dags / "pipelines_check.py")]
    for line in EXPECTED_ERRORS:
        assert line in error.splitlines()


def test_stored_as_the_dag_processor_does_good_dags_stay_active_and_the_error_is_listed(dags, airflow_db):
    """``sync_bag_to_db`` is what the dag-processor runs: the rows the UI and ``/api/v2/importErrors`` read."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.models.errors import ParseImportError
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags, bundle_name="dags-folder")
    try:
        sync_bag_to_db(bag, "dags-folder", None)
        with create_session() as session:
            models = {m.dag_id: m for m in session.query(DagModel).filter(DagModel.dag_id.in_(bag.dags))}
            assert {k: (m.is_stale, m.has_import_errors) for k, m in models.items()} == {
                "Compare_Models_YAML": (False, False),
                "python_module": (False, False),
                "renamed": (False, False),
            }
            errors = session.query(ParseImportError).filter_by(bundle_name="dags-folder")
            rows = {e.filename: e.stacktrace for e in errors}
        assert set(rows) == {"pipelines_check.py"}
        for line in EXPECTED_ERRORS:
            assert line in rows["pipelines_check.py"].splitlines()
    finally:  # leave the session's database as other tests expect it
        with create_session() as session:
            session.query(ParseImportError).filter_by(filename="pipelines_check.py").delete()
            for dag_id in bag.dags:
                session.query(DagModel).filter_by(dag_id=dag_id).update({"is_stale": True})


@pytest.mark.parametrize(
    ("dag_id", "read"),
    [
        ("Compare_Models_YAML", ["Compare_Models_YAML.yaml"]),
        ("python_module", ["python_module.py"]),
        # no file of that name: only a Python module can define it, so those (only) are run
        ("renamed", ["failing_module.py", "publishes_renamed.py", "python_module.py"]),
    ],
)
def test_a_task_start_parses_only_its_own_pipeline(dags, monkeypatch, dag_id, read):
    """As the task runner does: ``BundleDagBag`` on the loader file under the task's parsing context."""
    from airflow.dag_processing.dagbag import BundleDagBag

    from amlflow.factory import folder_loader

    loaded: list[str] = []
    real = folder_loader.load_file
    monkeypatch.setattr(folder_loader, "load_file", lambda path, *a, **k: loaded.append(path) or real(path, *a, **k))
    # as the task runner sets them; Airflow's own context manager leaves them set for later tests
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", dag_id)
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_TASK_ID", "train.py")
    bag = BundleDagBag(
        dag_folder=str(dags / "pipelines_loader.py"), safe_mode=False, bundle_path=dags, bundle_name="dags-folder"
    )
    assert dag_id in bag.dags and "Compare_Models_YAML" not in set(bag.dags) - {dag_id}
    assert [os.path.basename(p) for p in loaded] == read


@pytest.mark.integration
def test_rest_api_shows_the_bad_definition_with_its_location_next_to_the_good_dag(airflow_stack):
    """On a real dag-processor: the good YAML DAG is served, the bad one is ``GET /api/v2/importErrors``."""
    import time

    dags = airflow_stack.dags_folder
    shutil.copytree(
        os.path.join(ROOT, "dags", "compare_models"), os.path.join(dags, "compare_models"), dirs_exist_ok=True
    )
    shutil.copytree(os.path.join(ROOT, "dags", "pipelines"), os.path.join(dags, "pipelines"), dirs_exist_ok=True)
    with open(os.path.join(dags, "pipelines", "bad_yaml.yaml"), "w") as handle:
        handle.write(BAD_YAML)
    with open(os.path.join(dags, ".airflowignore"), "a") as handle:
        handle.write("compare_models/\npipelines/\n")
    shutil.copy(os.path.join(ROOT, "dags", "pipelines_check.py"), dags)
    try:
        airflow_stack.install_dag(os.path.join(ROOT, "dags", "pipelines_loader.py"), ["Compare_Models_YAML"])
        status, dag = airflow_stack.request("GET", "/api/v2/dags/Compare_Models_YAML")
        assert status == 200 and dag["is_stale"] is False and dag["has_import_errors"] is False
        deadline = time.monotonic() + 90
        while True:
            status, body = airflow_stack.request("GET", "/api/v2/importErrors")
            assert status == 200
            found = [e for e in body["import_errors"] if e["filename"].endswith("pipelines_check.py")]
            if found or time.monotonic() > deadline:
                break
            time.sleep(1)  # polling the dag-processor's next parse, not an assertion
        assert found, body
        assert EXPECTED_ERRORS[0] in found[0]["stack_trace"].splitlines()
    finally:  # the stack is shared by the session: take the broken definition and its reporter away
        os.remove(os.path.join(dags, "pipelines", "bad_yaml.yaml"))
        os.remove(os.path.join(dags, "pipelines_check.py"))
