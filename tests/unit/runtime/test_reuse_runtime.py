"""The pieces of reuse on their own: what a snapshot holds, index validation, metrics, offline runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from amlflow.core import Run
from amlflow.core.run import fold_metrics
from amlflow.runtime.reuse import regenerate_requested
from amlflow.runtime.snapshot import source_files


def make_files(root, files: dict[str, str]) -> None:
    for name, body in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)


def test_amlignore_wins_over_gitignore_and_bytecode_is_never_part_of_a_snapshot(tmp_path):
    make_files(
        tmp_path,
        {
            "train.py": "",
            "lib/util.py": "",
            "lib/__pycache__/util.cpython-311.pyc": "",
            "data/big.csv": "",
            "notes.md": "",
            "keep.log": "",
            "run.log": "",
            ".gitignore": "*.py\n",
            ".amlignore": "data/\n*.log\n!keep.log\nnotes.md\n",
        },
    )
    assert source_files(str(tmp_path)) == [".amlignore", ".gitignore", "keep.log", "lib/util.py", "train.py"]
    (tmp_path / ".amlignore").unlink()
    assert source_files(str(tmp_path)) == [".gitignore", "data/big.csv", "keep.log", "notes.md", "run.log"]


def test_regenerate_outputs_conf_flag_accepts_json_and_form_values():
    assert regenerate_requested({"regenerate_outputs": True})
    assert regenerate_requested({"regenerate_outputs": "true"})
    assert not regenerate_requested({"regenerate_outputs": False})
    assert not regenerate_requested({})
    assert not regenerate_requested(None)


def test_offline_run_prints_and_keeps_metrics_as_azure_ml(capsys, monkeypatch):
    monkeypatch.delenv("AMLFLOW_METRICS_FILE", raising=False)
    run = Run.get_context()
    assert run.id.startswith("OfflineRun_")
    run.log("acc", 0.5)
    run.log("acc", 0.75)
    run.log_list("xs", [1, 2])
    run.log_row("curve", epoch=1, loss=0.3)
    run.log_table("t", {"a": [1, 2]})
    run.parent.log("best", 0.75)
    assert "Attempted to log scalar metric acc:\n0.5" in capsys.readouterr().out
    assert run.get_metrics() == {
        "acc": [0.5, 0.75],
        "xs": [1, 2],
        "curve": {"epoch": [1], "loss": [0.3]},
        "t": {"a": [1, 2]},
    }
    assert run.get_metrics("xs") == {"xs": [1, 2]}
    assert run.parent.get_metrics() == {"best": 0.75}
    with pytest.raises(RuntimeError, match="not running in a pipeline step"):
        Run.get_context(allow_offline=False)
    with pytest.raises(TypeError, match="metric 'bad': a value of type object cannot be logged"):
        run.log("bad", object())


def test_a_step_script_appends_metrics_lines_that_fold_into_get_metrics(tmp_path):
    metrics_file = tmp_path / "metrics.jsonl"
    script = "from amlflow.core import Run\nr = Run.get_context()\nr.log('n', 1)\nr.log('n', 2)\nr.parent.log('p', 3)\n"
    env = {**os.environ, "AMLFLOW_METRICS_FILE": str(metrics_file), "AMLFLOW_PIPELINE_RUN_ID": "run-1"}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)
    records = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    assert fold_metrics(records) == {"n": [1, 2]}
    assert fold_metrics(records, "parent") == {"p": 3}


@pytest.fixture
def index(airflow_db):
    """A committed output and its reuse index entry, in the session's default datastore."""
    from amlflow.runtime import reuse
    from amlflow.storage import get_backend

    backend = get_backend("workspaceblobstore")
    path = f"amlflow/unit_reuse/{uuid.uuid4().hex}/step/out"
    staging = backend.stage_output(path)
    with open(os.path.join(staging.local_dir, "a.txt"), "w") as handle:
        handle.write("a")
    manifest = staging.commit()
    from amlflow.storage.location import DataLocation

    location = DataLocation(backend.name, path, backend.uri(path), manifest.fingerprint, manifest.total_size)
    fingerprint = uuid.uuid4().hex * 2
    reuse.record(fingerprint, "unit_reuse", "run", "step", {"out": location})
    return backend, path, fingerprint


def test_an_index_entry_is_reused_only_while_its_outputs_stay_committed_as_recorded(index):
    from amlflow.runtime.reuse import find_reusable
    from amlflow.storage.manifest import Manifest

    backend, path, fingerprint = index
    assert find_reusable(fingerprint, ["out"]).outputs["out"].path == path
    assert find_reusable(fingerprint, ["other"]) is None  # different outputs: not the same step
    assert find_reusable("f" * 64, ["out"]) is None  # never indexed

    manifest = backend.read_manifest(path)
    backend.write_manifest(path, Manifest([*manifest.files, {"path": "b.txt", "size": 1, "sha256": "0" * 64}]))
    assert find_reusable(fingerprint, ["out"]) is None  # rewritten since

    backend.delete(Manifest.path_for(path))
    assert find_reusable(fingerprint, ["out"]) is None  # no longer committed


def test_the_content_of_a_data_reference_is_part_of_its_fingerprint(airflow_db, datastore_root):
    from amlflow.runtime.fingerprint import data_fingerprint

    folder = os.path.join(datastore_root, "workspaceblobstore", "unit_fp", uuid.uuid4().hex)
    os.makedirs(folder)
    with open(os.path.join(folder, "x.csv"), "w") as handle:
        handle.write("1,2\n")
    where = ("workspaceblobstore", os.path.relpath(folder, os.path.join(datastore_root, "workspaceblobstore")))
    before = data_fingerprint(where)
    assert data_fingerprint(where) == before
    with open(os.path.join(folder, "x.csv"), "w") as handle:
        handle.write("3,4\n")  # same size, same name
    assert data_fingerprint(where) != before


def test_a_run_keeps_its_snapshot_even_after_the_folder_changes_and_the_local_cache_is_gone(airflow_db, tmp_path):
    import shutil

    from amlflow.runtime.snapshot import snapshot_for_run

    make_files(tmp_path, {"step.py": "print('v1')\n", "data/ignored.bin": "x", ".amlignore": "data/\n"})
    run_id = uuid.uuid4().hex
    first = snapshot_for_run(str(tmp_path), "unit_snapshot", run_id, "step.py")
    assert first.contains("step.py") and not first.contains("data/ignored.bin")

    (tmp_path / "step.py").write_text("print('v2')\n")
    shutil.rmtree(first.cache_dir)  # e.g. another worker machine: the copy comes from the datastore
    again = snapshot_for_run(str(tmp_path), "unit_snapshot", run_id, "step.py")
    assert again.content_hash == first.content_hash
    checkout = again.checkout(str(tmp_path / "try"))
    with open(os.path.join(checkout, "step.py")) as handle:
        assert handle.read() == "print('v1')\n"

    next_run = snapshot_for_run(str(tmp_path), "unit_snapshot", uuid.uuid4().hex, "step.py")
    assert next_run.content_hash != first.content_hash


def test_what_an_upload_mode_reference_already_holds_is_not_part_of_the_fingerprint(airflow_db, datastore_root):
    from amlflow.runtime.fingerprint import step_fingerprint

    folder = os.path.join(datastore_root, "workspaceblobstore", "unit_upload", uuid.uuid4().hex)
    os.makedirs(folder)
    target = ("workspaceblobstore", os.path.relpath(folder, os.path.join(datastore_root, "workspaceblobstore")))

    def fingerprint(mode: str) -> str:
        spec = {"name": "out", "kind": "DataReference", "datastore": target[0], "path": target[1], "mode": mode}
        common = {"kind": "PythonScriptStep", "name": "s", "code": "c", "script_name": "s.py", "arguments": []}
        return step_fingerprint(**common, params={}, compute=None, inputs=[(spec, target)], outputs=[])

    before = {mode: fingerprint(mode) for mode in ("upload", "mount")}
    with open(os.path.join(folder, "written_by_the_last_run.txt"), "w") as handle:
        handle.write("x")
    assert fingerprint("upload") == before["upload"]
    assert fingerprint("mount") != before["mount"]
