"""``amlflow dags push``: a DAG folder mirrored into a datastore prefix, for a DatastoreDagBundle."""

from __future__ import annotations

import pytest

from amlflow.cli import main
from amlflow.storage import get_backend


@pytest.fixture
def backend(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "stores"))
    from amlflow.storage.registry import forget_backends

    forget_backends()
    yield get_backend("workspaceblobstore")
    forget_backends()


@pytest.fixture
def dags(tmp_path):
    folder = tmp_path / "dags"
    (folder / "scripts" / "__pycache__").mkdir(parents=True)
    (folder / "pipeline.py").write_text("# airflow dag\n")
    (folder / "scripts" / "train.py").write_text("print('train')\n")
    (folder / "scripts" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    (folder / ".gitignore").write_text("*.tmp\n")
    (folder / "notes.tmp").write_text("scratch")
    return folder


def test_push_uploads_the_folder_scripts_first_and_leaves_out_what_a_snapshot_does(backend, dags, capsys):
    assert main(["dags", "push", str(dags)]) == 0
    stored = [info.path for info in backend.list_files("amlflow-dags")]
    assert stored == ["amlflow-dags/.gitignore", "amlflow-dags/pipeline.py", "amlflow-dags/scripts/train.py"]
    assert backend.read_bytes("amlflow-dags/scripts/train.py") == b"print('train')\n"
    # The DAG file goes up after the script it runs: a bundle refreshed midway never sees it alone.
    lines = capsys.readouterr().out.splitlines()
    assert lines.index("+ amlflow-dags/scripts/train.py") < lines.index("+ amlflow-dags/pipeline.py")


def test_push_again_replaces_changed_files_and_deletes_removed_ones(backend, dags, capsys):
    main(["dags", "push", str(dags), "--prefix", "team/dags"])
    (dags / "scripts" / "train.py").write_text("print('train v2')\n")
    (dags / "pipeline.py").unlink()
    main(["dags", "push", str(dags), "--prefix", "team/dags"])
    assert [info.path for info in backend.list_files("team/dags")] == [
        "team/dags/.gitignore",
        "team/dags/scripts/train.py",
    ]
    assert backend.read_bytes("team/dags/scripts/train.py") == b"print('train v2')\n"
    assert capsys.readouterr().out.splitlines()[-1] == "- team/dags/pipeline.py"


def test_push_of_a_missing_folder_fails_naming_it(backend, tmp_path):
    with pytest.raises(SystemExit, match="nowhere' is not a folder"):
        main(["dags", "push", str(tmp_path / "nowhere")])
