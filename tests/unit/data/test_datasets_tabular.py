"""TabularDataset: delimited files (header, separator, encoding, set_column_types) and parquet, the
row and column transforms, and localized() tables."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from amlflow.core import Dataset
from amlflow.data import DataType, TabularDataset
from amlflow.data.abstract_dataset import dataset_from_definition
from amlflow.data.dataset_error_handling import DatasetValidationError
from amlflow.data.dataset_type_definitions import PromoteHeadersBehavior
from amlflow.exceptions import UserErrorException
from tests.unit.conftest import put


def test_delimited_files_with_headers_concatenate_in_path_order(root, store):
    put(root, "sales/2019.csv", "id,amount,day\n1,2.5,2019-01-02\n2,3.5,2019-01-03\n")
    put(root, "sales/2020.csv", "id,amount,day\n3,4.5,2020-05-06\n")
    ds = Dataset.Tabular.from_delimited_files((store, "sales/*.csv"))
    assert isinstance(ds, TabularDataset)
    frame = ds.to_pandas_dataframe()
    assert frame["id"].tolist() == [1, 2, 3]
    assert frame["amount"].tolist() == [2.5, 3.5, 4.5]
    assert ds.definition["reader"]["header"] == "ALL_FILES_HAVE_SAME_HEADERS"


def test_separator_no_header_and_text_columns_without_inference(root, store):
    put(root, "t.tsv", "1;x\n2;y\n")
    frame = Dataset.Tabular.from_delimited_files((store, "t.tsv"), separator=";", header=False).to_pandas_dataframe()
    assert list(frame.columns) == ["Column1", "Column2"]
    assert frame.to_dict("list") == {"Column1": [1, 2], "Column2": ["x", "y"]}
    text = Dataset.Tabular.from_delimited_files(
        (store, "t.tsv"), separator=";", header="NO_HEADERS", infer_column_types=False
    ).to_pandas_dataframe()
    assert text["Column1"].tolist() == ["1", "2"]
    with pytest.raises(UserErrorException, match="Unsupported header provided"):
        Dataset.Tabular.from_delimited_files((store, "t.tsv"), header="SOME_HEADERS")


def test_only_first_file_has_headers(root, store):
    put(root, "p/a.csv", "k,v\n1,a\n")
    put(root, "p/b.csv", "2,b\n")
    ds = Dataset.Tabular.from_delimited_files((store, "p"), header=PromoteHeadersBehavior.ONLY_FIRST_FILE_HAS_HEADERS)
    assert ds.to_pandas_dataframe().to_dict("list") == {"k": [1, 2], "v": ["a", "b"]}


def test_set_column_types_converts_and_nulls_what_does_not_convert(root, store):
    put(root, "types.csv", "n,f,b,d,s\n1,1.5,true,02/01/2020,007\nx,oops,no,31/12/2021,10\n")
    ds = Dataset.Tabular.from_delimited_files(
        (store, "types.csv"),
        set_column_types={
            "n": DataType.to_long(),
            "f": DataType.to_float(),
            "b": DataType.to_bool(),
            "d": DataType.to_datetime("%d/%m/%Y"),
            "s": DataType.to_string(),
        },
    )
    frame = ds.to_pandas_dataframe()
    assert frame["n"].tolist()[0] == 1 and pd.isna(frame["n"].tolist()[1])
    assert frame["f"].tolist()[0] == 1.5 and pd.isna(frame["f"].tolist()[1])
    assert frame["b"].tolist() == [True, False]
    assert frame["d"].tolist() == [pd.Timestamp("2020-01-02"), pd.Timestamp("2021-12-31")]
    assert frame["s"].tolist() == ["007", "10"]  # kept as written: not read as a number first
    assert ds.definition["reader"]["set_column_types"]["d"] == {"type": "datetime", "formats": ["%d/%m/%Y"]}
    with pytest.raises(UserErrorException, match="`set_column_types` must be a dictionary"):
        Dataset.Tabular.from_delimited_files((store, "types.csv"), set_column_types={"n": int})


def test_encoding_and_include_path(root, store):
    put(root, "enc/latin.csv", "name\ncaf\xe9\n".encode("latin-1"))
    ds = Dataset.Tabular.from_delimited_files((store, "enc"), encoding="latin1", include_path=True)
    assert ds.to_pandas_dataframe().to_dict("list") == {"Path": ["/latin.csv"], "name": ["café"]}
    with pytest.raises(UserErrorException, match="Invalid encoding 'ebcdic'"):
        Dataset.Tabular.from_delimited_files((store, "enc"), encoding="ebcdic")


def test_parquet_files(root, store):
    (root / "pq").mkdir()
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), root / "pq" / "one.parquet")
    pq.write_table(pa.table({"a": [3], "b": ["z"]}), root / "pq" / "two.parquet")
    ds = Dataset.Tabular.from_parquet_files((store, "pq/*.parquet"), set_column_types={"a": DataType.to_float()})
    frame = ds.to_pandas_dataframe()
    assert frame["a"].tolist() == [1.0, 2.0, 3.0] and str(frame["a"].dtype) == "float64"
    assert frame["b"].tolist() == ["x", "y", "z"]


def test_row_and_column_transforms_apply_in_order(root, store):
    put(root, "rows.csv", "i,sq,cube\n" + "".join(f"{i},{i * i},{i**3}\n" for i in range(20)))
    ds = Dataset.Tabular.from_delimited_files((store, "rows.csv"))
    assert ds.take(3).to_pandas_dataframe()["i"].tolist() == [0, 1, 2]
    assert ds.skip(17).to_pandas_dataframe()["i"].tolist() == [17, 18, 19]
    assert ds.skip(5).take(2).to_pandas_dataframe()["i"].tolist() == [5, 6]
    assert list(ds.keep_columns(["i", "sq"]).to_pandas_dataframe().columns) == ["i", "sq"]
    assert list(ds.drop_columns("cube").to_pandas_dataframe().columns) == ["i", "sq"]
    with pytest.raises(DatasetValidationError, match=r"\['nope'\] do not exist"):
        ds.keep_columns("nope", validate=True)
    train, test = ds.random_split(0.7, seed=3)
    rows_train = train.to_pandas_dataframe()["i"].tolist()
    rows_test = test.to_pandas_dataframe()["i"].tolist()
    assert sorted(rows_train + rows_test) == list(range(20)) and rows_train and rows_test
    assert rows_train == ds.random_split(0.7, seed=3)[0].to_pandas_dataframe()["i"].tolist()
    sample = ds.take_sample(0.5, seed=11).to_pandas_dataframe()["i"].tolist()
    assert sample == ds.take_sample(0.5, seed=11).to_pandas_dataframe()["i"].tolist() and 0 < len(sample) < 20
    assert ds.filter(ds["i"] > 16).to_pandas_dataframe()["i"].tolist() == [17, 18, 19]


def test_localized_table_reads_without_the_datastore(root, store, tmp_path, monkeypatch):
    put(root, "t/a.csv", "x\n1\n2\n")
    put(root, "t/b.csv", "x\n3\n")
    ds = Dataset.Tabular.from_delimited_files((store, "t"), separator=",").skip(1)
    local = ds.localized(str(tmp_path / "copy"))
    shutil.rmtree(tmp_path / "stores")
    monkeypatch.setenv("AIRFLOW__AMLFLOW__LOCAL_DATASTORE_ROOT", str(tmp_path / "gone"))
    from amlflow.storage.registry import forget_backends

    forget_backends()
    rebuilt = dataset_from_definition(local.definition)
    assert isinstance(rebuilt, TabularDataset)
    assert rebuilt.to_pandas_dataframe()["x"].tolist() == [2, 3]


def test_partition_keys_are_taken_from_the_end_of_the_path(root, store):
    (root / "t" / "north").mkdir(parents=True)
    (root / "t" / "north" / "a.csv").write_text("v\n1\n")
    table = Dataset.Tabular.from_delimited_files((store, "t/*/*.csv"), partition_format="/{region}/*.csv")
    assert table.to_pandas_dataframe()["region"].tolist() == ["north"]


def test_partition_format_adds_columns_from_each_files_path(root, store, tmp_path):
    put(root, "acc/Sales/2019/01/02/data.csv", "v\n1\n2\n")
    put(root, "acc/Ops/2020/12/31/data.csv", "v\n3\n")
    ds = Dataset.Tabular.from_delimited_files(
        (store, "acc/Ops/2020/12/31/data.csv"), partition_format="/{Department}/{Date:yyyy/MM/dd}/data.csv"
    )
    assert ds.partition_keys == ["Department", "Date"]
    expected = {"v": [3], "Department": ["Ops"], "Date": [pd.Timestamp("2020-12-31")]}
    assert ds.to_pandas_dataframe().to_dict("list") == expected
    # A localized copy of a single file keeps where it came from, so its partition columns stay.
    local = ds.localized(str(tmp_path / "copy"))
    assert dataset_from_definition(local.definition).to_pandas_dataframe().to_dict("list") == expected
    both = Dataset.Tabular.from_delimited_files(
        (store, "acc/**/data.csv"), partition_format="/{Department}/{Year:yyyy}/*/data.csv"
    )
    assert both.to_pandas_dataframe().to_dict("list") == {
        "v": [3, 1, 2],
        "Department": ["Ops", "Sales", "Sales"],
        "Year": [pd.Timestamp("2020-01-01"), pd.Timestamp("2019-01-01"), pd.Timestamp("2019-01-01")],
    }
    with pytest.raises(UserErrorException, match="Format 'yyyy' must be defined"):
        Dataset.Tabular.from_delimited_files((store, "acc"), partition_format="/{Date:MM/dd}/data.csv")
