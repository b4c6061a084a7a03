"""The Airflow connection behind each kind of datastore, and how a ``Datastore.register_*`` call writes one.

A registration is a deploy-time call, as in Azure ML's setup notebooks: it writes the connection straight
to the Airflow metadata database (what ``airflow connections add`` does). A DAG file never registers
(parsing touches no database) and a task cannot (Airflow 3 tasks have no database access). The same
connection may instead come from an ``AIRFLOW_CONN_<ID>`` variable or a secrets backend; those win.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from amlflow.exceptions import UserErrorException

log = logging.getLogger(__name__)

#: Airflow connection type -> Azure ML's ``datastore_type`` of the datastore it makes.
DATASTORE_TYPES = {
    "wasb": "AzureBlob",
    "azure_fileshare": "AzureFile",
    "dbfs": "DBFS",
    "postgres": "AzurePostgreSql",
    "mysql": "AzureMySql",
    "mssql": "AzureSqlDatabase",
    "fs": "Local",
}
#: Connection types of the SQL databases a DataTransferStep reads with a SqlDataReference.
SQL_CONNECTION_TYPES = ("postgres", "mysql", "mssql")
#: A registration writes this description; its suffix names a datastore type the connection type cannot
#: tell (an ADLS Gen2 account is a ``wasb`` connection to its blob endpoint).
DESCRIPTION_PREFIX = "amlflow datastore: "


def on_connection(hook: Any, connection: Any) -> Any:
    """``hook`` (a provider's), using ``connection`` as read already instead of looking it up again: a
    deploy script's just-written connection is in the metadata database, where a hook outside a task
    would not look, and a task needs one look-up, not two."""
    hook.get_connection = lambda conn_id: connection
    hook._connection = connection  # where the common-sql hooks keep theirs
    return hook


def datastore_type(connection: Any) -> str:
    """Azure ML's type name of the datastore a connection makes (``AzureBlob``, ``AzurePostgreSql``...)."""
    description = getattr(connection, "description", None) or ""
    if description.startswith(DESCRIPTION_PREFIX):
        return description[len(DESCRIPTION_PREFIX) :].split()[0]
    return DATASTORE_TYPES.get(connection.conn_type, connection.conn_type)


@dataclass
class Registration:
    """The connection one ``Datastore.register_*`` call asks for."""

    conn_type: str
    datastore_type: str
    host: str | None = None
    login: str | None = None
    password: str | None = None
    schema: str | None = None
    port: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fields(self) -> tuple[Any, ...]:
        """The connection's fields, as compared with an existing connection to see whether it changes."""
        return (self.conn_type, self.host, self.login, self.password, self.schema, self.port, self.extra)


def registered_name(datastore_name: str) -> str:
    """The name a registration stores: Azure ML's, lowercase (it warns when it lowers capitals)."""
    from amlflow.storage.names import datastore_name_problem

    problem = datastore_name_problem(datastore_name)
    if problem:
        raise UserErrorException(f"datastore {problem}")
    if datastore_name != datastore_name.lower():
        log.warning(
            "Datastore name %s contains capital letters. They will be converted to lowercase letters.",
            datastore_name,
        )
    return datastore_name.lower()


def write_connection(conn_id: str, registration: Registration, overwrite: bool) -> None:
    """Create or replace Airflow connection ``conn_id`` in the metadata database.

    The same settings again change nothing; other settings raise unless ``overwrite``. The error never
    shows a setting (some are secrets). A machine that cannot reach the metadata database (a notebook that
    knows only the api-server) is told where to register instead.
    """
    from sqlalchemy.exc import SQLAlchemyError

    try:
        _write(conn_id, registration, overwrite)
    except SQLAlchemyError as error:
        # Never the statement or its parameters (they hold the password): the driver's first line only.
        reason = (str(getattr(error, "orig", None) or type(error).__name__).splitlines() or [""])[0][:200]
        for secret in (registration.password, *registration.extra.values()):
            if isinstance(secret, str) and secret:
                reason = reason.replace(secret, "***")
        raise UserErrorException(
            f"datastore {conn_id!r} cannot be registered from here: a registration writes the Airflow connection "
            f"{conn_id!r} to the deployment's metadata database, which this machine cannot use ({reason}). "
            "Register it on a machine of the deployment (a deploy script), or create that connection there "
            "(airflow connections add, POST /api/v2/connections, or a secrets backend)"
        ) from None


def _write(conn_id: str, registration: Registration, overwrite: bool) -> None:
    from airflow.models import Connection
    from airflow.utils.session import create_session

    wanted = Connection(
        conn_id=conn_id,
        conn_type=registration.conn_type,
        description=f"{DESCRIPTION_PREFIX}{registration.datastore_type}",
        host=registration.host,
        login=registration.login,
        password=registration.password,
        schema=registration.schema,
        port=registration.port,
    )
    wanted.set_extra(json.dumps(registration.extra))
    with create_session() as session:
        existing = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if existing is not None:
            have = (
                existing.conn_type,
                existing.host,
                existing.login,
                existing.password,
                existing.schema,
                existing.port,
                existing.extra_dejson,
            )
            if have == registration.fields() and existing.description == wanted.description:
                return
            if not overwrite:
                raise UserErrorException(
                    f"Another datastore with the same name already exists: datastore {conn_id!r} is already "
                    "registered with other settings; pass overwrite=True to replace it"
                )
            session.delete(existing)
            session.flush()
        session.add(wanted)
