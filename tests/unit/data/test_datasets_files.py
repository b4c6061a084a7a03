"""FileDataset on local datastores and a local http server: sources, globs, to_path, download, mount,
transforms, validation, refusals, and localized() datasets that outlive their datastore."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from amlflow.core import Dataset, Datastore, Workspace
from amlflow.data import FileDataset
from amlflow.data.abstract_dataset import dataset_from_definition
from amlflow.data.datapath import DataPath
from amlflow.data.dataset_error_handling import DatasetValidationError
from amlflow.exceptions import UserErrorException
from amlflow.pipeline.core._source import dag_file
from tests.conftest import local_datastores

FILES = {
    "animals/dog/year-2018/1.jpg": b"d18-1",
    "animals/dog/year-2018/2.jpg": b"d18-2",
    "animals/dog/year-2019/1.jpg": b"d19-1",
    "animals/dog/notes.txt": b"notes",
    "animals/cat/a/b/deep.jpg": b"deep",
    "single/only.csv": b"x,y\n1,2\n",
}


@pytest.fixture
def ws(local_root, tmp_path) -> Workspace:
    local_datastores("otherstore")
    for rel, data in FILES.items():
        path = tmp_path / "stores" / "workspaceblobstore" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (tmp_path / "stores" / "otherstore" / "more").mkdir()
    (tmp_path / "stores" / "otherstore" / "more" / "o.txt").write_bytes(b"other")
    return Workspace()


@pytest.fixture
def store(ws) -> Datastore:
    return Datastore(ws, "workspaceblobstore")


@pytest.fixture
def http_root(tmp_path):
    """A local http server (127.0.0.1, a free port) serving a folder; stopped after the test."""
    root = tmp_path / "www"
    (root / "data").mkdir(parents=True)
    (root / "data" / "green%20small.csv").write_bytes(b"should not be found")
    (root / "data" / "green.csv").write_bytes(b"a,b\n1,2\n")
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_a_tuple_naming_a_folder_means_every_file_under_it(store):
    ds = Dataset.File.from_files((store, "animals/dog"))
    assert isinstance(ds, FileDataset)
    assert ds.definition == {
        "type": "File",
        "sources": [{"datastore": "workspaceblobstore", "path": "animals/dog"}],
        "transforms": [],
    }
    assert ds.to_path() == ["/notes.txt", "/year-2018/1.jpg", "/year-2018/2.jpg", "/year-2019/1.jpg"]
    assert ds.id is None and ds.name is None


def test_globs_take_paths_from_the_folder_before_the_first_wildcard(store):
    assert Dataset.File.from_files((store, "animals/dog/year-*/*.jpg")).to_path() == [
        "/year-2018/1.jpg",
        "/year-2018/2.jpg",
        "/year-2019/1.jpg",
    ]
    assert Dataset.File.from_files((store, "animals/**/*.jpg")).to_path() == [
        "/cat/a/b/deep.jpg",
        "/dog/year-2018/1.jpg",
        "/dog/year-2018/2.jpg",
        "/dog/year-2019/1.jpg",
    ]
    assert Dataset.File.from_files((store, "animals/dog/year-201?/1.jpg")).to_path() == [
        "/year-2018/1.jpg",
        "/year-2019/1.jpg",
    ]


def test_lists_of_tuples_and_datapaths_share_their_common_folder(store, ws):
    ds = Dataset.File.from_files([(store, "animals/dog/year-2018"), DataPath(store, "animals/cat")])
    assert ds.definition["sources"] == [
        {"datastore": "workspaceblobstore", "path": "animals/dog/year-2018"},
        {"datastore": "workspaceblobstore", "path": "animals/cat"},
    ]
    assert ds.to_path() == ["/dog/year-2018/1.jpg", "/dog/year-2018/2.jpg", "/cat/a/b/deep.jpg"]
    two_stores = Dataset.File.from_files([(store, "single"), (Datastore(ws, "otherstore"), "more")])
    assert two_stores.to_path() == ["/only.csv", "/o.txt"]


def test_download_keeps_relative_paths_and_refuses_to_overwrite(store, tmp_path):
    ds = Dataset.File.from_files((store, "animals/dog/year-*/*.jpg"))
    target = tmp_path / "out"
    paths = ds.download(str(target))
    assert paths == [str(target / "year-2018" / "1.jpg"), str(target / "year-2018" / "2.jpg"),
                     str(target / "year-2019" / "1.jpg")]  # fmt: skip
    assert (target / "year-2019" / "1.jpg").read_bytes() == b"d19-1"
    (target / "year-2019" / "1.jpg").write_bytes(b"local edit")
    with pytest.raises(UserErrorException, match=r"already exists\. Set overwrite=True"):
        ds.download(str(target))
    assert (target / "year-2019" / "1.jpg").read_bytes() == b"local edit"
    ds.download(str(target), overwrite=True)
    assert (target / "year-2019" / "1.jpg").read_bytes() == b"d19-1"


def test_a_source_that_names_no_file_fails_a_download_unless_ignore_not_found(store, tmp_path):
    ds = Dataset.File.from_files([(store, "single/only.csv"), (store, "gone/*.csv")], validate=False)
    with pytest.raises(DatasetValidationError, match="no files found at"):
        ds.download(str(tmp_path / "strict"))
    assert not (tmp_path / "strict").exists()  # nothing half-downloaded
    assert ds.download(str(tmp_path / "lenient"), ignore_not_found=True) == [str(tmp_path / "lenient" / "only.csv")]


def test_a_single_file_source_downloads_to_that_file(store, tmp_path):
    ds = Dataset.File.from_files((store, "single/only.csv"))
    assert ds.is_single_file()
    assert not Dataset.File.from_files((store, "single")).is_single_file()
    assert not Dataset.File.from_files((store, "single/*.csv")).is_single_file()
    assert ds.to_path() == ["/only.csv"]
    [path] = ds.download(str(tmp_path / "one"))
    assert path == str(tmp_path / "one" / "only.csv")
    assert Path(path).read_bytes() == FILES["single/only.csv"]
    default = ds.download()  # a new temporary folder
    assert os.path.basename(default[0]) == "only.csv" and os.path.isfile(default[0])


def test_mount_downloads_into_its_mount_point_and_removes_it_on_stop(store):
    ds = Dataset.File.from_files((store, "animals/dog/year-2018"))
    with ds.mount() as context:
        point = context.mount_point
        assert sorted(os.listdir(point)) == ["1.jpg", "2.jpg"]
        assert Path(os.path.join(point, "2.jpg")).read_bytes() == b"d18-2"
    assert not os.path.exists(point)


def test_mount_into_a_given_folder_empties_it_again_and_refuses_a_full_one(store, tmp_path):
    ds = Dataset.File.from_files((store, "single/only.csv"))
    point = tmp_path / "mnt"
    point.mkdir()
    context = ds.mount(str(point))
    context.start()
    assert os.listdir(point) == ["only.csv"]
    context.stop()
    assert point.is_dir() and os.listdir(point) == []
    (point / "x").write_text("x")
    with pytest.raises(UserErrorException, match="mount point must be empty"):
        ds.mount(str(point)).start()


def test_take_skip_and_random_split(store):
    ds = Dataset.File.from_files((store, "animals/dog"))
    assert ds.take(2).to_path() == ["/notes.txt", "/year-2018/1.jpg"]
    assert ds.skip(3).to_path() == ["/year-2019/1.jpg"]
    assert ds.skip(1).take(1).to_path() == ["/year-2018/1.jpg"]
    assert ds.definition["transforms"] == []  # transforms make new datasets
    first, second = ds.random_split(0.5, seed=7)
    again_first, _ = ds.random_split(0.5, seed=7)
    assert first.to_path() == again_first.to_path()
    assert sorted(first.to_path() + second.to_path()) == ds.to_path()
    assert not set(first.to_path()) & set(second.to_path())
    # Without a seed one is drawn and kept in the definition, so the parts stay complements when re-read.
    a, b = ds.random_split(0.5)
    rebuilt = dataset_from_definition(a.definition)
    assert rebuilt.to_path() == a.to_path() and sorted(a.to_path() + b.to_path()) == ds.to_path()
    with pytest.raises(UserErrorException, match="count must be a non-negative integer"):
        ds.take(-1)


def test_validate_names_a_missing_path_and_is_skipped_while_a_dag_file_is_parsed(store):
    with pytest.raises(DatasetValidationError, match=r"\('workspaceblobstore', 'nowhere/\*.csv'\)"):
        Dataset.File.from_files((store, "nowhere/*.csv"))
    with pytest.raises(UserErrorException, match="no files found"):
        Dataset.Tabular.from_delimited_files((store, "missing.csv"))
    lazy = Dataset.File.from_files((store, "nowhere"), validate=False)
    with pytest.raises(DatasetValidationError, match="nowhere"):
        lazy.to_path()
    with dag_file():
        parsed = Dataset.File.from_files((store, "nowhere"))
    assert parsed.definition["sources"] == [{"datastore": "workspaceblobstore", "path": "nowhere"}]


def test_local_paths_and_file_urls_are_refused_with_what_to_do(store, tmp_path):
    for path in (str(tmp_path), "data/train.csv", "file:///tmp/x.csv"):
        with pytest.raises(UserErrorException, match=r"local path.*Datastore\.upload"):
            Dataset.File.from_files(path, validate=False)
    with pytest.raises(UserErrorException, match="Invalid argument type for `path`"):
        Dataset.File.from_files([(store, "single"), "https://example.invalid/x.csv"])
    with pytest.raises(UserErrorException, match="Invalid tuple for path"):
        Dataset.File.from_files(("workspaceblobstore", "single"))
    with pytest.raises(UserErrorException, match="datastores, which hold the credentials"):
        Dataset.File.from_files("wasbs://c@acct.blob.core.windows.net/x.csv")
    with pytest.raises(UserErrorException, match="There cannot be more than one date part"):
        Dataset.File.from_files((store, "animals"), partition_format="/{a:yyyy}/{b:yyyy}/x.jpg")


def test_partition_format_is_kept_in_the_definition(store):
    ds = Dataset.File.from_files((store, "animals/dog"), partition_format="/{kind}/year-{when:yyyy}/*.jpg")
    assert ds.definition["partition_format"] == "/{kind}/year-{when:yyyy}/*.jpg"
    assert ds.partition_keys == ["kind", "when"]
    assert "partition_format" not in Dataset.File.from_files((store, "animals/dog")).definition
    assert Dataset.File.from_files((store, "animals/dog")).partition_keys == []


def test_an_http_url_is_one_file_read_with_urllib(http_root, tmp_path):
    ds = Dataset.File.from_files(f"{http_root}/data/green.csv")
    assert ds.definition["sources"] == [{"url": f"{http_root}/data/green.csv"}]
    assert ds.to_path() == ["/green.csv"] and ds.is_single_file()
    [path] = ds.download(str(tmp_path / "dl"))
    assert Path(path).read_bytes() == b"a,b\n1,2\n"
    with pytest.raises(DatasetValidationError, match=r"missing\.csv"):
        Dataset.File.from_files(f"{http_root}/data/missing.csv")
    frame = Dataset.Tabular.from_delimited_files(f"{http_root}/data/green.csv").to_pandas_dataframe()
    assert frame.to_dict("list") == {"a": [1], "b": [2]}


def test_localized_dataset_is_readable_after_the_datastore_is_gone(store, tmp_path, monkeypatch):
    ds = Dataset.File.from_files((store, "animals/dog/year-*/*.jpg")).skip(1)
    local = ds.localized(str(tmp_path / "local"))
    assert all("local" in source for source in local.definition["sources"])
    assert local.definition["transforms"] == ds.definition["transforms"]
    expected = ds.to_path()
    shutil.rmtree(tmp_path / "stores")
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "elsewhere"))
    from amlflow.storage.registry import forget_backends

    forget_backends()
    rebuilt = dataset_from_definition(local.definition)  # as a script's environment hands it over
    assert rebuilt.to_path() == expected == ["/year-2018/2.jpg", "/year-2019/1.jpg"]
    paths = rebuilt.download(str(tmp_path / "again"))
    assert [Path(p).read_bytes() for p in paths] == [b"d18-2", b"d19-1"]


def test_as_mount_and_as_download_name_the_input_after_the_definition(store):
    ds = Dataset.File.from_files((store, "single"))
    mount = ds.as_mount("/mnt/x")
    assert mount.mode == "mount" and mount.path_on_compute == "/mnt/x" and mount.name.startswith("input_")
    assert ds.as_download().mode == "download" and ds.as_download().name == mount.name
    named = ds.as_named_input("raw")
    assert named.name == "raw" and named.mode == "direct" and named.dataset is ds


def test_definitions_rebuild_and_bad_ones_say_what_is_wrong(store):
    ds = Dataset.File.from_files((store, "single"))
    assert dataset_from_definition(ds.definition) == ds
    with pytest.raises(UserErrorException, match="'type' must be 'File' or 'Tabular'"):
        dataset_from_definition({"type": "Image", "sources": [{"url": "http://x/y"}]})
    with pytest.raises(UserErrorException, match="exactly one of 'datastore'"):
        dataset_from_definition({"type": "File", "sources": [{"path": "x"}]})
    assert "('workspaceblobstore', 'single')" in repr(ds) and "GetDatastoreFiles" in repr(ds)
