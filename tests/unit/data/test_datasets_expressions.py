"""Dataset filter expressions (dataset['column'] ... built into a JSON transform, evaluated with pandas),
FileDataset filters over partition columns, get_partition_key_values and TabularDataset.partition_by."""

from __future__ import annotations

import datetime
import json

import pandas as pd
import pytest

from amlflow.core import Dataset, Datastore, Workspace
from amlflow.data import FileDataset, TabularDataset
from amlflow.data.abstract_dataset import dataset_from_definition
from amlflow.data.datapath import DataPath
from amlflow.data.dataset_error_handling import DatasetExecutionError, DatasetValidationError
from amlflow.data.dataset_expressions import RecordFieldExpression, col
from amlflow.exceptions import UserErrorException
from tests.unit.conftest import put

PEOPLE = "name,age,city,score\nAnna,31,Oslo,1.5\nBob,17,Bergen,\nCarl,45,Oslo,3.0\nDora,22,,4.5\nEve,17,Tromso,2.0\n"


@pytest.fixture
def people(root, store) -> TabularDataset:
    put(root, "people.csv", PEOPLE)
    return Dataset.Tabular.from_delimited_files((store, "people.csv"))


def names(ds: TabularDataset) -> list[str]:
    return ds.to_pandas_dataframe()["name"].tolist()


# -- building expressions ---------------------------------------------------------------------------
def test_getitem_gives_a_column_reference_and_operators_build_json():
    ds = Dataset.Tabular.from_parquet_files((Datastore(Workspace(), "workspaceblobstore"), "x"), validate=False)
    age = ds["age"]
    assert isinstance(age, RecordFieldExpression) and age.name == "age"
    assert (age >= 18).to_json() == {"op": ">=", "args": [{"col": "age"}, {"value": 18}]}
    combined = (age > 1) & ~ds["city"].starts_with("O") | ds["score"].is_null()
    assert combined.to_json() == {
        "op": "or",
        "args": [
            {
                "op": "and",
                "args": [
                    {"op": ">", "args": [{"col": "age"}, {"value": 1}]},
                    {"op": "not", "args": [{"op": "starts_with", "args": [{"col": "city"}, {"value": "O"}]}]},
                ],
            },
            {"op": "is_null", "args": [{"col": "score"}]},
        ],
    }
    assert col("age").to_json() == age.to_json()
    assert repr(age < ds["score"]) == "(['age'] < ['score'])"
    when = datetime.datetime(2020, 1, 2)
    assert (age == when).to_json()["args"][1] == {"datetime": "2020-01-02T00:00:00"}


def test_building_errors_name_the_operator():
    age = col("age")
    with pytest.raises(UserErrorException, match=r"no truth value.*&"):
        bool(age > 3)
    with pytest.raises(UserErrorException, match="no truth value"):
        _ = (age > 3) and (age < 9)
    with pytest.raises(UserErrorException, match="Operator <: cannot compare with list"):
        _ = age < [1, 2]
    with pytest.raises(UserErrorException, match="Operator & combines expressions"):
        _ = (age > 1) & True
    with pytest.raises(UserErrorException, match="starts_with: the value must be text"):
        age.starts_with(3)
    with pytest.raises(UserErrorException, match="A column is named by a non-empty string"):
        col("")


# -- TabularDataset.filter ------------------------------------------------------------------------------
def test_each_comparison_operator(people):
    ds = people
    assert names(ds.filter(ds["age"] == 17)) == ["Bob", "Eve"]
    assert names(ds.filter(ds["age"] != 17)) == ["Anna", "Carl", "Dora"]
    assert names(ds.filter(ds["age"] < 22)) == ["Bob", "Eve"]
    assert names(ds.filter(ds["age"] <= 22)) == ["Bob", "Dora", "Eve"]
    assert names(ds.filter(ds["age"] > 31)) == ["Carl"]
    assert names(ds.filter(ds["age"] >= 31)) == ["Anna", "Carl"]
    assert names(ds.filter(ds["city"] == "Oslo")) == ["Anna", "Carl"]
    # a literal on the left is reflected: 30 < age
    assert names(ds.filter(30 < ds["age"])) == ["Anna", "Carl"]  # noqa: SIM300 - the reflected operator
    # two columns
    assert names(ds.filter(ds["age"] > ds["score"])) == ["Anna", "Carl", "Dora", "Eve"]


def test_nulls_do_not_match_comparisons_but_match_is_null(people):
    ds = people
    # Bob's score and Dora's city are null: no comparison keeps them, not even !=
    assert names(ds.filter(ds["city"] != "Oslo")) == ["Bob", "Eve"]
    assert names(ds.filter(ds["score"] < 100)) == ["Anna", "Carl", "Dora", "Eve"]
    assert names(ds.filter(ds["score"].is_null())) == ["Bob"]
    assert names(ds.filter(ds["city"].is_null())) == ["Dora"]
    assert names(ds.filter(~ds["city"].is_null())) == ["Anna", "Bob", "Carl", "Eve"]
    assert names(ds.filter(ds["city"] == None)) == []  # noqa: E711 - the expression, not a Python test


def test_and_or_not_combine(people):
    ds = people
    assert names(ds.filter((ds["age"] > 20) & (ds["city"] == "Oslo"))) == ["Anna", "Carl"]
    assert names(ds.filter((ds["age"] > 40) | (ds["city"] == "Tromso"))) == ["Carl", "Eve"]
    assert names(ds.filter(~(ds["age"] > 20))) == ["Bob", "Eve"]
    assert names(ds.filter(((ds["age"] < 20) | (ds["age"] > 40)) & ~(ds["name"] == "Eve"))) == ["Bob", "Carl"]
    # filters chain with other transforms, in order
    assert names(ds.filter(ds["age"] > 20).take(2)) == ["Anna", "Carl"]
    assert names(ds.take(2).filter(ds["age"] > 20)) == ["Anna"]


def test_string_methods(people):
    ds = people
    assert names(ds.filter(ds["name"].starts_with("D"))) == ["Dora"]
    assert names(ds.filter(ds["city"].ends_with("o"))) == ["Anna", "Carl", "Eve"]
    assert names(ds.filter(ds["city"].contains("rg"))) == ["Bob"]
    assert names(ds.filter(ds["name"].starts_with("d"))) == []  # case-sensitive
    # a value that is not text never matches (the null city, numbers)
    assert names(ds.filter(ds["age"].starts_with("1"))) == []
    assert names(ds.filter(ds["city"].contains(""))) == ["Anna", "Bob", "Carl", "Eve"]


def test_filter_on_datetime_and_boolean_columns(root, store):
    put(root, "d.csv", "k,when,flag\na,2020-01-01,true\nb,2021-06-01,false\nc,2022-01-01,true\n")
    from amlflow.data import DataType

    ds = Dataset.Tabular.from_delimited_files(
        (store, "d.csv"), set_column_types={"when": DataType.to_datetime("%Y-%m-%d"), "flag": DataType.to_bool()}
    )
    keys = ds.filter(ds["when"] >= datetime.datetime(2021, 1, 1)).to_pandas_dataframe()["k"].tolist()
    assert keys == ["b", "c"]
    assert ds.filter(ds["flag"]).to_pandas_dataframe()["k"].tolist() == ["a", "c"]
    assert ds.filter(ds["flag"] == False).to_pandas_dataframe()["k"].tolist() == ["b"]  # noqa: E712


def test_filter_json_round_trips_through_the_definition(people):
    ds = people
    filtered = ds.filter((ds["age"] >= 18) & ds["city"].starts_with("O"))
    transform = filtered.definition["transforms"][-1]
    assert transform == {
        "filter": {
            "op": "and",
            "args": [
                {"op": ">=", "args": [{"col": "age"}, {"value": 18}]},
                {"op": "starts_with", "args": [{"col": "city"}, {"value": "O"}]},
            ],
        }
    }
    assert "Filter" in repr(filtered)
    rebuilt = dataset_from_definition(json.loads(json.dumps(filtered.definition)))
    assert isinstance(rebuilt, TabularDataset) and rebuilt == filtered
    assert names(rebuilt) == ["Anna", "Carl"]
    assert filtered._saved_id() != ds._saved_id()
    # a definition with a broken filter (from YAML) is refused when rebuilt, naming what is wrong
    broken = filtered.definition
    broken["transforms"][-1] = {"filter": {"op": "like", "args": [{"col": "age"}, {"value": 1}]}}
    with pytest.raises(UserErrorException, match="operator 'like' is not one of"):
        dataset_from_definition(broken)
    broken["transforms"][-1] = {"filter": {"op": "==", "args": [{"col": "age"}]}}
    with pytest.raises(UserErrorException, match="operator '==' has 1 operands"):
        dataset_from_definition(broken)


def test_filter_errors_name_the_column_and_operator(people):
    ds = people
    with pytest.raises(DatasetValidationError, match=r"columns \['nope'\] do not exist"):
        ds.filter(ds["nope"] > 1).to_pandas_dataframe()
    with pytest.raises(DatasetValidationError, match=r"\['age'\] do not exist"):
        ds.keep_columns(["name"]).filter(ds["age"] > 1).to_pandas_dataframe()
    with pytest.raises(DatasetExecutionError, match=r"operator < cannot compare \['city'\] with 3"):
        ds.filter(ds["city"] < 3).to_pandas_dataframe()
    with pytest.raises(UserErrorException, match="must be built from dataset\\['column'\\]"):
        ds.filter("age > 3")


# -- FileDataset.filter and partition keys --------------------------------------------------------------
@pytest.fixture
def animals(root, store) -> FileDataset:
    rels = ("dog/2018/01/a.jpg", "dog/2019/02/b.jpg", "cat/2019/03/c.jpg", "cat/2020/04/d.png", "bird/2020/05/e.jpg")
    for rel in rels:
        put(root, f"animals/{rel}", rel)
    return Dataset.File.from_files((store, "animals"), partition_format="/{kind}/{when:yyyy/MM}/*")


def test_file_filter_over_partition_columns_selects_files(animals):
    ds = animals
    assert ds.filter(ds["kind"] == "cat").to_path() == ["/cat/2019/03/c.jpg", "/cat/2020/04/d.png"]
    assert ds.filter(ds["when"] >= datetime.datetime(2019, 3, 1)).to_path() == [
        "/bird/2020/05/e.jpg",
        "/cat/2019/03/c.jpg",
        "/cat/2020/04/d.png",
    ]
    both = ds.filter((ds["kind"] != "bird") & ds["Path"].ends_with(".jpg"))
    assert both.to_path() == ["/cat/2019/03/c.jpg", "/dog/2018/01/a.jpg", "/dog/2019/02/b.jpg"]
    rebuilt = dataset_from_definition(json.loads(json.dumps(both.definition)))
    assert isinstance(rebuilt, FileDataset) and rebuilt.to_path() == both.to_path()
    assert ds.filter(ds["kind"] == "fish").to_path() == []
    # filter and the other transforms apply in order
    assert ds.take(2).filter(ds["kind"] == "cat").to_path() == ["/cat/2019/03/c.jpg"]


def test_file_filter_columns_are_path_and_partition_keys(animals, store):
    ds = animals
    with pytest.raises(UserErrorException, match=r"no column 'size'.*\['Path', 'kind', 'when'\]"):
        ds["size"]
    with pytest.raises(UserErrorException, match=r"no column \['size'\]"):
        ds.filter(col("size") > 3)
    plain = Dataset.File.from_files((store, "animals"))
    assert plain.filter(plain["Path"].contains("dog")).to_path() == ["/dog/2018/01/a.jpg", "/dog/2019/02/b.jpg"]


def test_get_partition_key_values(animals, root, store):
    ds = animals
    assert ds.get_partition_key_values(["kind"]) == [{"kind": "bird"}, {"kind": "cat"}, {"kind": "dog"}]
    every = ds.get_partition_key_values()
    assert every[0] == {"kind": "bird", "when": datetime.datetime(2020, 5, 1)}
    assert len(every) == 5
    assert ds.filter(ds["kind"] == "dog").get_partition_key_values(["kind"]) == [{"kind": "dog"}]
    with pytest.raises(UserErrorException, match=r"\['colour'\] are invalid partition keys"):
        ds.get_partition_key_values(["colour"])
    with pytest.raises(UserErrorException, match="has no partition keys"):
        Dataset.File.from_files((store, "animals")).get_partition_key_values()
    put(root, "t/north/a.csv", "v\n1\n")
    put(root, "t/south/b.csv", "v\n2\n")
    put(root, "t/north/c.csv", "v\n3\n")
    table = Dataset.Tabular.from_delimited_files((store, "t"), partition_format="/t/{region}/*.csv")
    assert table.get_partition_key_values() == [{"region": "north"}, {"region": "south"}]


# -- partition_by -------------------------------------------------------------------------------------
def test_partition_by_writes_parquet_and_returns_a_partitioned_dataset(people, root, store, capsys):
    ds = people.filter(~people["city"].is_null())
    parted = ds.partition_by(["city"], DataPath(store, "parted"), show_progress=True)
    assert "Successfully uploaded file to datastore." in capsys.readouterr().out
    assert isinstance(parted, TabularDataset) and parted.partition_keys == ["city"]
    written = sorted(p.relative_to(root).as_posix() for p in (root / "parted").rglob("*.parquet"))
    assert len(written) == 3 and all(path.endswith("part-00000.parquet") for path in written)
    assert {path.split("/")[2] for path in written} == {"Bergen", "Oslo", "Tromso"}
    assert parted.definition["partition_format"].endswith("/{city}/*.parquet")
    frame = parted.to_pandas_dataframe().sort_values("name").reset_index(drop=True)
    expected = ds.to_pandas_dataframe().sort_values("name").reset_index(drop=True)
    assert frame[["name", "age", "city"]].to_dict("list") == expected[["name", "age", "city"]].to_dict("list")
    assert sorted(v["city"] for v in parted.get_partition_key_values()) == ["Bergen", "Oslo", "Tromso"]
    # an integer key is typed back as a long; the new dataset registers when named
    by_age = people.partition_by(["age"], (store, "by-age"), name="by_age", show_progress=False)
    assert by_age.name == "by_age" and by_age.version == 1
    ages = by_age.to_pandas_dataframe()["age"]
    assert str(ages.dtype) == "Int64" and sorted(ages.tolist()) == [17, 17, 22, 31, 45]
    files = people.partition_by(["age"], (store, "as-files"), show_progress=False, partition_as_file_dataset=True)
    assert isinstance(files, FileDataset) and len(files.to_path()) == 4


def test_partition_by_datetime_key(root, store):
    put(root, "e.csv", "k,when\na,2020-01-01\nb,2020-01-01\nc,2021-05-06\n")
    from amlflow.data import DataType

    ds = Dataset.Tabular.from_delimited_files((store, "e.csv"), set_column_types={"when": DataType.to_datetime()})
    parted = ds.partition_by(["when"], (store, "t"), show_progress=False)
    assert "{when:yyyyMMddHHmmss}*/" in parted.definition["partition_format"]
    assert sorted(p.parent.name for p in (root / "t").rglob("*.parquet")) == ["20200101000000", "20210506000000"]
    frame = parted.to_pandas_dataframe().sort_values("k")
    assert frame["when"].tolist() == [pd.Timestamp("2020-01-01")] * 2 + [pd.Timestamp("2021-05-06")]


def test_partition_by_refusals(people, store, root):
    with pytest.raises(UserErrorException, match="partition_keys cannot be empty"):
        people.partition_by([], (store, "x"))
    with pytest.raises(UserErrorException, match="cannot have duplicates"):
        people.partition_by(["city", "city"], (store, "x"))
    with pytest.raises(UserErrorException, match=r"\['town'\] are invalid partition keys"):
        people.partition_by(["town"], (store, "x"), show_progress=False)
    with pytest.raises(UserErrorException, match="'city' has null values"):
        people.partition_by(["city"], (store, "x"), show_progress=False)
    with pytest.raises(UserErrorException, match=r"'score' has values .* cannot read back"):
        people.filter(~people["score"].is_null()).partition_by(["score"], (store, "x"), show_progress=False)
    with pytest.raises(UserErrorException, match="target type is not supported"):
        people.partition_by(["age"], "somewhere", show_progress=False)
    assert not (root / "x").exists()


def test_partition_by_failure_leaves_no_files(people, store, root, monkeypatch):
    from amlflow.storage import get_backend

    backend = get_backend("workspaceblobstore")
    real_write = type(backend).write_bytes
    calls = []

    def failing_write(self, path, data):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_write(self, path, data)

    monkeypatch.setattr(type(backend), "write_bytes", failing_write)
    with pytest.raises(OSError, match="disk full"):
        people.partition_by(["age"], (store, "broken"), name="never", show_progress=False)
    assert len(calls) == 3
    assert not list((root / "broken").rglob("*.parquet")) if (root / "broken").exists() else True
    with pytest.raises(Exception, match="never"):
        Dataset.get_by_name(Workspace(), "never")
