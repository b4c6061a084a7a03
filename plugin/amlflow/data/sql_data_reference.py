"""``SqlDataReference``: the rows of a query (or a table) of a SQL datastore, as in ``azureml.data``.

Its one use, as in Azure ML, is the source of a ``DataTransferStep``: the step runs the query on the
database of the datastore (an Azure SQL Database, PostgreSQL or MySQL datastore) and writes the rows to
the destination as one CSV file. It has no path and no mode: ``path``, ``as_mount``, ``as_download`` and
``as_upload`` raise ``NotImplementedError``, as Azure ML's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from amlflow.data.data_reference import DataReference

if TYPE_CHECKING:
    from amlflow.core.datastore import Datastore


class SqlDataReference(DataReference):
    """A query, a table or a stored procedure of a SQL datastore.

    Give one of ``sql_table`` (its rows, ``SELECT * FROM <table>``) and ``sql_query``. Azure ML's
    ``sql_stored_procedure`` (with ``sql_stored_procedure_params``) is accepted here and reported by
    ``Pipeline.validate()``: amlflow does not run stored procedures.
    """

    def __init__(self, datastore: Datastore, data_reference_name: str | None = None, sql_table: str | None = None,
                 sql_query: str | None = None, sql_stored_procedure: str | None = None,
                 sql_stored_procedure_params: list[Any] | None = None) -> None:  # fmt: skip
        self.sql_table = sql_table
        self.sql_query = sql_query
        self.sql_stored_procedure = sql_stored_procedure
        self.sql_stored_procedure_params = sql_stored_procedure_params
        super().__init__(datastore, data_reference_name=data_reference_name)

    def __repr__(self) -> str:
        what = f"sql_query={self.sql_query!r}" if self.sql_query else f"sql_table={self.sql_table!r}"
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name} (datastore={self.datastore.name!r}, {what})"

    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        """Raises ``NotImplementedError``, as Azure ML does: a SQL reference has no path."""
        raise NotImplementedError("SqlDataReference does not support `path` operation.")

    def as_download(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        """Raises ``NotImplementedError``, as Azure ML does: a SQL reference names rows, not files."""
        raise NotImplementedError("SqlDataReference does not support `download` operation.")

    def as_upload(self, path_on_compute: str | None = None, overwrite: bool = False) -> DataReference:
        """Raises ``NotImplementedError``, as Azure ML does: a SQL reference names rows, not files."""
        raise NotImplementedError("SqlDataReference does not support `upload` operation.")

    def as_mount(self) -> DataReference:
        """Raises ``NotImplementedError``, as Azure ML does: a SQL reference names rows, not files."""
        raise NotImplementedError("SqlDataReference does not support `mount` operation.")

    def query_problems(self) -> list[str]:
        """What is wrong with what this reference reads (exactly one of a table and a query)."""
        import re

        from amlflow.storage.sql import TABLE_PATTERN

        if self.sql_stored_procedure:
            return [
                "sql_stored_procedure is not supported by amlflow: give sql_query (for example "
                "'SELECT * FROM my_function(...)') or sql_table"
            ]
        given = [name for name in ("sql_table", "sql_query") if getattr(self, name)]
        if len(given) != 1:
            return [f"give exactly one of sql_table and sql_query, not {' and '.join(given) or 'neither'}"]
        if self.sql_table and not re.match(TABLE_PATTERN, self.sql_table):
            return [f"sql_table {self.sql_table!r} is not a table name: use identifiers, dot-separated"]
        return []

    def query(self) -> str:
        """The SQL this reference runs."""
        from amlflow.storage.sql import table_query

        return self.sql_query or table_query(self.sql_table or "")

    def _clone(self, **changes: Any) -> SqlDataReference:
        names = ("datastore", "data_reference_name", "sql_table", "sql_query", "sql_stored_procedure")
        return SqlDataReference(**{name: getattr(self, name) for name in names}, **changes)
