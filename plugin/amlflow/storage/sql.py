"""A datastore that is a SQL database: Azure SQL Database, Azure Database for PostgreSQL or MySQL.

An Airflow connection of type ``postgres``, ``mysql`` or ``mssql`` (what ``Datastore.register_azure_*``
writes), reached with the hook of that connection type (the provider must be installed on the workers:
apache-airflow-providers-postgres comes with amlflow; -mysql and -microsoft-mssql are yours to add).
As in Azure ML it holds tables, not files: its one use is a ``SqlDataReference``, the source of a
``DataTransferStep``, whose query (or table) ``export_csv`` writes as one CSV file. Every file operation
raises a ``DatastoreError`` that says so. The connection's password never reaches a log or a message.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import re
from typing import Any

from amlflow.exceptions import DatastoreError
from amlflow.storage.base import DatastoreBackend, FileInfo, OutputStaging, PermanentDatastoreError
from amlflow.storage.connections import datastore_type, on_connection

log = logging.getLogger(__name__)

#: A table name a SqlDataReference may give: identifiers (letters, digits, ``_``, ``$``), dot-separated.
TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$"
_TABLE = re.compile(TABLE_PATTERN)
#: The provider package that brings each connection type's hook.
PROVIDERS = {
    "postgres": "apache-airflow-providers-postgres",
    "mysql": "apache-airflow-providers-mysql",
    "mssql": "apache-airflow-providers-microsoft-mssql",
}
FETCH_ROWS = 10_000


def table_query(table: str) -> str:
    """``SELECT * FROM <table>``, for a table name that is only identifiers (checked: no SQL gets in)."""
    if not _TABLE.match(table):
        raise DatastoreError(f"{table!r} is not a table name: use identifiers (letters, digits, '_'), dot-separated")
    return f"SELECT * FROM {table}"


def csv_value(value: Any) -> str:
    """One cell as text: NULL is empty, bytes are hex, everything else as Python writes it."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


class SqlBackend(DatastoreBackend):
    """One database. ``export_csv`` runs a query; there are no files to list, read or write."""

    kind = "sql"

    def __init__(self, name: str, connection: Any) -> None:
        super().__init__(name)
        self.connection = connection
        self.datastore_type = datastore_type(connection)
        self._secret = connection.password or ""
        if self._secret:
            from airflow.sdk.log import mask_secret

            mask_secret(self._secret)

    def uri(self, path: str) -> str:
        """The database's URI (``<type>://host[:port]/database``), with ``path`` (a query or table) after ``?``."""
        conn = self.connection
        where = f"{conn.host}{f':{conn.port}' if conn.port else ''}/{conn.schema or ''}"
        return f"{conn.conn_type}://{where}" + (f"?{path}" if path else "")

    def scrub(self, text: str) -> str:
        """``text`` with the connection's password replaced by ``***``."""
        return text.replace(self._secret, "***") if self._secret else text

    def _hook(self) -> Any:
        """The provider's hook of this connection type, on the connection already read."""
        try:
            hook = self.connection.get_hook()
        except Exception as error:  # Airflow raises a bare AirflowException for an unknown hook type
            package = PROVIDERS.get(self.connection.conn_type, "the provider of that connection type")
            raise DatastoreError(
                f"datastore {self.name!r} ({self.datastore_type}): no hook for connection type "
                f"{self.connection.conn_type!r} on this machine; install {package} ({self.scrub(str(error))})"
            ) from None
        return on_connection(hook, self.connection)

    def check(self) -> None:
        """Connect and run ``SELECT 1``: the registration's validation."""
        with self._cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchall()

    @contextlib.contextmanager
    def _cursor(self, server_side: bool = False):
        hook = self._hook()
        try:
            conn = hook.get_conn()
        except Exception as error:
            raise DatastoreError(f"datastore {self.name!r}: cannot connect: {self._describe(error)}") from None
        try:
            cursor = None
            if server_side:  # psycopg's named cursor streams rows from the server instead of loading them all
                with contextlib.suppress(TypeError):
                    cursor = conn.cursor(name=f"amlflow_{self.name}".replace("-", "_"))
            yield cursor or conn.cursor()
        except DatastoreError:
            raise
        except Exception as error:
            raise DatastoreError(f"datastore {self.name!r}: query failed: {self._describe(error)}") from None
        finally:
            with contextlib.suppress(Exception):
                conn.close()

    def _describe(self, error: Exception) -> str:
        first = (str(error).strip().splitlines() or [""])[0]
        return self.scrub(f"{type(error).__name__}: {first[:300]}")

    def export_csv(self, query: str, local_path: str) -> int:
        """Run ``query`` and write its rows to ``local_path`` as CSV with a header row; returns how many rows.

        RFC 4180 (comma, double quotes where needed, CRLF line ends, UTF-8), as Azure Data Factory's copy
        wrote delimited text; rows are fetched ``FETCH_ROWS`` at a time, never all at once.
        """
        rows = 0
        with self._cursor(server_side=True) as cursor, open(local_path, "w", newline="", encoding="utf-8") as out:
            cursor.execute(query)
            batch = cursor.fetchmany(FETCH_ROWS)
            if cursor.description is None:
                raise DatastoreError(f"datastore {self.name!r}: the query returned no rows and no columns")
            writer = csv.writer(out)
            writer.writerow([column[0] for column in cursor.description])
            while batch:
                writer.writerows([csv_value(v) for v in row] for row in batch)
                rows += len(batch)
                batch = cursor.fetchmany(FETCH_ROWS)
        log.info("Datastore %s: the query returned %d rows", self.name, rows)
        return rows

    # -- not a file store ---------------------------------------------------------------------------
    def _not_files(self) -> PermanentDatastoreError:
        return PermanentDatastoreError(
            f"datastore {self.name!r} is a SQL database ({self.datastore_type}): it holds tables, not files; "
            "use it through a SqlDataReference, as the source of a DataTransferStep"
        )

    def list_files(self, prefix: str) -> list[FileInfo]:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()

    def read_bytes(self, path: str) -> bytes:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()

    def write_bytes(self, path: str, data: bytes) -> None:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()

    def upload_file(self, local_path: str, path: str) -> None:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()

    def download_file(self, path: str, local_path: str) -> None:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()

    def delete(self, path: str) -> None:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()

    def stage_output(self, path: str) -> OutputStaging:
        """Raises ``PermanentDatastoreError``: a SQL database holds tables, not files."""
        raise self._not_files()
