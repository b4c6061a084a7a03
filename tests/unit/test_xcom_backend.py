"""The PipelineData XCom backend: references pass through, large values are offloaded, purge is safe."""

from __future__ import annotations

import json

import pytest

from amlflow.storage import get_backend
from amlflow.storage.location import DataLocation
from amlflow.xcom import PipelineDataXComBackend as Backend

COORDINATES = {"key": "k", "task_id": "t", "dag_id": "d", "run_id": "manual__1", "map_index": -1}


class Stored:
    def __init__(self, value):
        self.value = value


@pytest.fixture
def threshold(monkeypatch):
    monkeypatch.setenv("AIRFLOW__AMLFLOW__XCOM_OFFLOAD_THRESHOLD", "100")


def test_small_values_stay_in_the_database(threshold):
    assert Backend.serialize_value({"a": 1}, **COORDINATES) == {"a": 1}
    assert Backend.deserialize_value(Stored({"a": 1})) == {"a": 1}


def test_large_values_go_to_the_default_datastore_and_come_back(threshold):
    value = {"rows": list(range(200))}
    stored = Backend.serialize_value(value, **COORDINATES)
    assert len(json.dumps(stored)) < 400
    assert stored["path"].startswith("amlflow/d/manual__1/t/xcom/k-")
    assert get_backend(stored["datastore"]).exists(stored["path"])
    assert Backend.deserialize_value(Stored(stored)) == value


def test_purge_deletes_an_offloaded_value(threshold):
    stored = Backend.serialize_value("x" * 500, **COORDINATES)
    backend = get_backend(stored["datastore"])
    Backend.purge(Stored(stored))
    assert not backend.exists(stored["path"])


def test_step_outputs_pass_through_and_purge_never_deletes_them(threshold, tmp_path):
    backend = get_backend("workspaceblobstore")
    backend.write_bytes("amlflow/d/r/s/out/file.txt", b"data")
    location = DataLocation("workspaceblobstore", "amlflow/d/r/s/out", "file:///x", "f" * 64, 4)
    big = {**location.to_xcom(), "uri": "file:///" + "p" * 300}
    stored = Backend.serialize_value(big, **COORDINATES)
    assert stored == big  # never offloaded, whatever its size
    Backend.purge(Stored(stored))
    assert backend.exists("amlflow/d/r/s/out/file.txt")
    assert DataLocation.from_xcom(Backend.deserialize_value(Stored(stored))).path == "amlflow/d/r/s/out"


def test_threshold_minus_one_keeps_everything_in_the_database(monkeypatch):
    monkeypatch.setenv("AIRFLOW__AMLFLOW__XCOM_OFFLOAD_THRESHOLD", "-1")
    assert Backend.serialize_value("x" * 100_000, **COORDINATES) == "x" * 100_000
