"""``Datastore``: a named place where pipeline data lives, as in Azure ML.

``Datastore(ws, name)`` and ``Datastore.get(ws, name)`` raise Azure ML's ``UserErrorException`` ("Could
not find datastore: ...") for a name that is not registered, so a notebook's "get, else register" works
and a typo fails where it is written. Inside a DAG file's parse nothing is checked (parsing touches no
network and no database): the name is resolved when a task runs. Everywhere else the check asks the
deployment: its api-server when the workspace names one (``api_url`` in ``config.json``,
``AMLFLOW_API_URL``), else this machine's own Airflow (connections from the environment, secrets
backends and the metadata database; folders under ``[amlflow] local_datastore_root``).

The ``register_*`` methods write the Airflow connection the datastore is (``amlflow.storage.connections``),
a deploy-time call. Data moves only in ``upload_files``, ``upload`` and ``download``.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import UserErrorException
from amlflow.storage.base import join
from amlflow.storage.connections import Registration

if TYPE_CHECKING:
    from amlflow.core.workspace import Workspace
    from amlflow.data.data_reference import DataReference
    from amlflow.storage.base import DatastoreBackend

log = logging.getLogger(__name__)

#: Azure ML's answer to a registration of ADLS Gen1, which Microsoft retired.
GEN1_RETIRED = (
    "Azure Data Lake Storage Gen1 was retired by Microsoft on 2024-02-29: no account serves it any more, so "
    "amlflow cannot register datastore {name!r}. Move the data to an ADLS Gen2 account (a storage account "
    "with a hierarchical namespace) and register that with Datastore.register_azure_data_lake_gen2(ws, "
    "{name!r}, filesystem=..., account_name=..., tenant_id=..., client_id=..., client_secret=...); "
    "pipelines then read it through its blob endpoint."
)


class Datastore:
    """A datastore by name. ``Datastore(ws)`` is the workspace default, as in Azure ML."""

    def __init__(self, workspace: Workspace, name: str | None = None) -> None:
        self.workspace = workspace
        self.name = name or workspace.default_datastore_name
        self._datastore_type: str | None = None
        if name is not None:
            self.name, self._datastore_type = _check_registered(workspace, name)

    @classmethod
    def _named(cls, workspace: Any, name: str, datastore_type: str | None = None) -> Datastore:
        """A datastore known to exist (just registered, or named in a definition being read): not checked."""
        datastore = cls.__new__(cls)
        datastore.workspace, datastore.name, datastore._datastore_type = workspace, name, datastore_type
        return datastore

    def __repr__(self) -> str:
        return f"Datastore(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Datastore) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @staticmethod
    def get(workspace: Workspace, datastore_name: str) -> Datastore:
        """The registered datastore ``datastore_name``; ``UserErrorException`` if there is none (as the constructor)."""
        return Datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        """The workspace's default datastore."""
        return workspace.get_default_datastore()

    def set_as_default(self) -> None:
        """Make this datastore the workspace's default."""
        self.workspace.set_default_datastore(self.name)

    # -- registrations: each writes one Airflow connection (a deploy-time call) ----------------------
    @staticmethod
    def register_azure_blob_container(workspace: Workspace, datastore_name: str, container_name: str,
                                      account_name: str, sas_token: str | None = None, account_key: str | None = None,
                                      protocol: str | None = None, endpoint: str | None = None,
                                      overwrite: bool = False, create_if_not_exists: bool = False,
                                      skip_validation: bool = False, blob_cache_timeout: int | None = None,
                                      grant_workspace_access: bool = False, subscription_id: str | None = None,
                                      resource_group: str | None = None) -> Datastore:  # fmt: skip
        """Declare an Azure Blob container as datastore ``datastore_name``, as Azure ML does.

        Writes the ``wasb`` connection ``datastore_name`` (``login`` = account, ``password`` = account key,
        ``extra`` = container and SAS token). ``protocol`` (default ``https``) and ``endpoint`` (default
        ``core.windows.net``) make the account URL ``<protocol>://<account>.blob.<endpoint>``; an
        ``endpoint`` that is a whole URL (an emulator, a private endpoint) is used as the account URL.
        Unless ``skip_validation``, the container is checked with the new credentials (and created first
        when ``create_if_not_exists``). ``blob_cache_timeout``, ``grant_workspace_access``,
        ``subscription_id`` and ``resource_group`` concern the Azure ML service and are accepted and ignored.
        """
        if not sas_token and not account_key:
            log.info("Datastore %s: no SAS token or account key, the connection will use Azure AD", datastore_name)
        extra = {"container_name": container_name, **({"sas_token": sas_token} if sas_token else {})}
        registration = Registration(
            "wasb",
            "AzureBlob",
            host=_account_url(account_name, "blob", protocol, endpoint),
            login=account_name,
            password=account_key,
            extra=extra,
        )
        check = None if skip_validation else (lambda backend: backend.check(create=create_if_not_exists))
        return _register(workspace, datastore_name, registration, overwrite, check)

    @staticmethod
    def register_azure_data_lake_gen2(workspace: Workspace, datastore_name: str, filesystem: str, account_name: str,
                                      tenant_id: str | None = None, client_id: str | None = None,
                                      client_secret: str | None = None, resource_url: str | None = None,
                                      authority_url: str | None = None, protocol: str | None = None,
                                      endpoint: str | None = None, overwrite: bool = False,
                                      subscription_id: str | None = None, resource_group: str | None = None,
                                      grant_workspace_access: bool = False,
                                      skip_validation: bool = False) -> Datastore:  # fmt: skip
        """Declare the filesystem of an ADLS Gen2 account as a datastore, reached through its blob endpoint.

        A Gen2 filesystem is a blob container of its storage account, so this writes a ``wasb`` connection
        (``host`` = ``<protocol>://<account>.blob.<endpoint>``, ``container_name`` = ``filesystem``) and the
        datastore is an Azure Blob datastore in every respect. With a service principal (``tenant_id``,
        ``client_id`` and ``client_secret``, all three or none, as in Azure ML) the connection signs in
        with it (``authority_url`` is its authority); with none, with the worker's Azure identity.
        ``resource_url`` is ignored (the storage SDK asks for its own scope). Unless ``skip_validation``
        (amlflow's addition), the filesystem is checked with those credentials.
        """
        service_principal = (tenant_id, client_id, client_secret)
        if any(service_principal) and not all(service_principal):
            raise UserErrorException("Tenant id, client id and client secret have to be defined together.")
        extra: dict[str, Any] = {"container_name": filesystem}
        if tenant_id:
            extra["tenant_id"] = tenant_id
            if authority_url:
                extra["client_secret_auth_config"] = {"authority": authority_url}
        registration = Registration(
            "wasb",
            "AzureDataLakeGen2",
            host=_account_url(account_name, "blob", protocol, endpoint),
            login=client_id or account_name,
            password=client_secret,
            extra=extra,
        )
        check = None if skip_validation else (lambda backend: backend.check())
        return _register(workspace, datastore_name, registration, overwrite, check)

    @staticmethod
    def register_azure_file_share(workspace: Workspace, datastore_name: str, file_share_name: str, account_name: str,
                                  sas_token: str | None = None, account_key: str | None = None,
                                  protocol: str | None = None, endpoint: str | None = None, overwrite: bool = False,
                                  create_if_not_exists: bool = False,
                                  skip_validation: bool = False) -> Datastore:  # fmt: skip
        """Declare an Azure Files share as datastore ``datastore_name``, reached with the azure provider's
        ``AzureFileShareHook``.

        Writes an ``azure_fileshare`` connection: ``login`` = account, ``password`` = account key (or
        extra ``sas_token``), extra ``share_name``. A ``protocol`` or ``endpoint`` other than Azure's
        defaults (``https``, ``core.windows.net``; an ``endpoint`` may be a whole URL) is written as a
        connection string, the form the hook takes for any endpoint. Unless ``skip_validation``, the share
        is checked (and created first when ``create_if_not_exists``).
        """
        extra: dict[str, Any] = {"share_name": file_share_name}
        login, password = account_name, account_key
        if protocol not in (None, "https") or endpoint not in (None, "core.windows.net"):
            secret = f"AccountKey={account_key}" if account_key else f"SharedAccessSignature={sas_token or ''}"
            extra["connection_string"] = (
                f"DefaultEndpointsProtocol={protocol or 'https'};AccountName={account_name};{secret};"
                f"FileEndpoint={_account_url(account_name, 'file', protocol, endpoint)};"
            )
            login, password = None, None
        elif sas_token:
            extra["sas_token"] = sas_token
        registration = Registration("azure_fileshare", "AzureFile", login=login, password=password, extra=extra)
        check = None if skip_validation else (lambda backend: backend.check(create=create_if_not_exists))
        return _register(workspace, datastore_name, registration, overwrite, check)

    @staticmethod
    def register_azure_data_lake(workspace: Workspace, datastore_name: str, store_name: str,
                                 tenant_id: str | None = None, client_id: str | None = None,
                                 client_secret: str | None = None, resource_url: str | None = None,
                                 authority_url: str | None = None, subscription_id: str | None = None,
                                 resource_group: str | None = None, overwrite: bool = False,
                                 grant_workspace_access: bool = False) -> Datastore:  # fmt: skip
        """Azure Data Lake Storage Gen1: retired by Microsoft on 2024-02-29, so this raises and says what to use."""
        raise UserErrorException(GEN1_RETIRED.format(name=datastore_name))

    @staticmethod
    def register_dbfs(workspace: Workspace, datastore_name: str) -> Datastore:
        """Declare the Databricks File System as datastore ``datastore_name`` (always overwrites, as Azure ML).

        As in Azure ML, a DBFS datastore can only be used to create DataReference as input and PipelineData
        as output to DatabricksStep: the step's cluster reads and writes ``dbfs:/<path>``; any other use
        fails with that rule. Writes a ``dbfs`` connection with no settings: which DBFS is the one of the
        Databricks workspace each step runs on.
        """
        return _register(workspace, datastore_name, Registration("dbfs", "DBFS"), overwrite=True, check=None)

    @staticmethod
    def register_azure_sql_database(workspace: Workspace, datastore_name: str, server_name: str, database_name: str,
                                    tenant_id: str | None = None, client_id: str | None = None,
                                    client_secret: str | None = None, resource_url: str | None = None,
                                    authority_url: str | None = None, endpoint: str | None = None,
                                    overwrite: bool = False, username: str | None = None, password: str | None = None,
                                    subscription_id: str | None = None, resource_group: str | None = None,
                                    grant_workspace_access: bool = False, **kwargs: Any) -> Datastore:  # fmt: skip
        """Declare an Azure SQL Database as a datastore: an ``mssql`` connection (the Microsoft SQL Server
        provider's), with SQL authentication (``username`` and ``password``).

        ``server_name`` is the server's short name (``sample`` of ``sample.database.windows.net``, with
        ``endpoint`` defaulting to ``database.windows.net``) or a host name or address, used as is.
        Azure ML's service-principal sign-in (``tenant_id``, ``client_id``, ``client_secret``) is refused:
        the provider's driver cannot sign in with Azure AD. ``skip_validation`` (a keyword, as in Azure ML)
        skips the test query.
        """
        if not (username and password):
            raise UserErrorException(
                f"datastore {datastore_name!r}: amlflow reaches Azure SQL Database with SQL authentication only "
                "(the mssql provider's driver cannot sign in with an Azure AD service principal); pass username "
                "and password"
                if tenant_id or client_id or client_secret
                else f"datastore {datastore_name!r}: pass username and password (SQL authentication)"
            )
        host = _host(server_name, endpoint or "database.windows.net")
        registration = Registration("mssql", "AzureSqlDatabase", host, username, password, database_name, 1433)
        return _register_sql(workspace, datastore_name, registration, overwrite, kwargs)

    @staticmethod
    def register_azure_postgre_sql(workspace: Workspace, datastore_name: str, server_name: str, database_name: str,
                                   user_id: str, user_password: str, port_number: str | None = None,
                                   endpoint: str | None = None, overwrite: bool = False, enforce_ssl: bool = True,
                                   **kwargs: Any) -> Datastore:  # fmt: skip
        """Declare an Azure Database for PostgreSQL as a datastore: a ``postgres`` connection.

        ``server_name`` with ``endpoint`` (default ``postgres.database.azure.com``) makes the host, unless
        it is a host name or address already; ``port_number`` defaults to 5432; ``enforce_ssl`` (default
        True) makes the driver require TLS (``sslmode=require``). ``skip_validation`` skips the test query.
        """
        _require("PostreSQL", user_id=user_id, user_password=user_password, server_name=server_name,
                 database_name=database_name)  # fmt: skip
        host = _host(server_name, endpoint or "postgres.database.azure.com")
        extra = {"sslmode": "require"} if enforce_ssl else {}
        registration = Registration("postgres", "AzurePostgreSql", host, user_id, user_password, database_name,
                                    int(port_number or 5432), extra)  # fmt: skip
        return _register_sql(workspace, datastore_name, registration, overwrite, kwargs)

    @staticmethod
    def register_azure_my_sql(workspace: Workspace, datastore_name: str, server_name: str, database_name: str,
                              user_id: str, user_password: str, port_number: str | None = None,
                              endpoint: str | None = None, overwrite: bool = False,
                              **kwargs: Any) -> Datastore:  # fmt: skip
        """Declare an Azure Database for MySQL as a datastore: a ``mysql`` connection (the MySQL provider's).

        ``server_name`` with ``endpoint`` (default ``mysql.database.azure.com``) makes the host, unless it is
        a host name or address already; ``port_number`` defaults to 3306. ``skip_validation`` skips the test
        query.
        """
        _require("My SQL", user_id=user_id, user_password=user_password, server_name=server_name,
                 database_name=database_name)  # fmt: skip
        host = _host(server_name, endpoint or "mysql.database.azure.com")
        registration = Registration("mysql", "AzureMySql", host, user_id, user_password, database_name,
                                    int(port_number or 3306))  # fmt: skip
        return _register_sql(workspace, datastore_name, registration, overwrite, kwargs)

    @property
    def backend(self) -> DatastoreBackend:
        """The storage backend that reads and writes this datastore's files."""
        from amlflow.storage import get_backend

        return get_backend(self.name)

    @property
    def datastore_type(self) -> str:
        """Azure ML's type name: ``AzureBlob``, ``AzureDataLakeGen2``, ``AzurePostgreSql``... (``Local``: a folder)."""
        if self._datastore_type is None:
            from amlflow.storage.registry import lookup

            found = lookup(self.name)
            self._datastore_type = found[1] if found else "Local"
        return self._datastore_type

    # -- data references -----------------------------------------------------------------------
    def path(self, path: str | None = None, data_reference_name: str | None = None) -> DataReference:
        """A DataReference to ``path`` on this datastore (default: its root)."""
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).path(path, data_reference_name)

    def as_mount(self) -> DataReference:
        """A DataReference to the datastore's root, mounted."""
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        """A DataReference to the datastore's root, downloaded to ``path_on_compute``."""
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).as_download(path_on_compute)

    def as_upload(self, path_on_compute: str | None = None) -> DataReference:
        """A DataReference to the datastore's root, uploaded from ``path_on_compute`` when the step succeeds."""
        from amlflow.data.data_reference import DataReference

        return DataReference(datastore=self).as_upload(path_on_compute)

    # -- moving data ------------------------------------------------------------------------------
    def upload_files(
        self,
        files: list[str],
        relative_root: str | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload ``files``, keeping their paths relative to ``relative_root`` (default: their common folder)."""
        from amlflow.data.data_reference import DataReference

        paths = [os.path.abspath(f) for f in files]
        root = os.path.abspath(relative_root) if relative_root else _common_folder(paths)
        pairs = [(p, join(target_path or "", os.path.relpath(p, root))) for p in paths]
        self._upload(pairs, target_path, overwrite, show_progress)
        return DataReference(datastore=self, path_on_datastore=target_path)

    def upload(
        self,
        src_dir: str,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Upload every file under ``src_dir`` to ``target_path``."""
        from amlflow.data.data_reference import DataReference

        src = os.path.abspath(src_dir)
        pairs = (
            (os.path.join(root, n), join(target_path or "", os.path.relpath(os.path.join(root, n), src)))
            for root, _dirs, names in os.walk(src)
            for n in sorted(names)
        )
        self._upload(pairs, target_path, overwrite, show_progress)
        return DataReference(datastore=self, path_on_datastore=target_path)

    def download(
        self, target_path: str, prefix: str | None = None, overwrite: bool = False, show_progress: bool = True
    ) -> int:
        """Download files under ``prefix`` to ``target_path/<their datastore path>``; returns how many."""
        backend = self.backend
        pairs = []
        # Azure ML lists by plain string prefix (not a folder match) and recreates each blob's full path.
        for info in backend.list_files(_folder_of(prefix or "")):
            if not info.path.startswith((prefix or "").lstrip("/")):
                continue
            local = os.path.join(target_path, *info.path.split("/"))
            if os.path.exists(local) and not overwrite:
                log.warning("Datastore %s: %s exists, not overwritten (overwrite=False)", self.name, local)
                continue
            pairs.append((info.path, local))

        def fetch(pair: tuple[str, str]) -> None:
            backend.download_file(*pair)
            if show_progress:
                log.info("Downloaded %s from datastore %s", pair[0], self.name)

        backend.run_parallel(fetch, pairs)
        return len(pairs)

    def _upload(self, pairs, target_path: str | None, overwrite: bool, show_progress: bool) -> None:
        self.backend.put_files(pairs, target_path or "", overwrite, show_progress)


def _folder_of(prefix: str) -> str:
    """The folder a string prefix lies in (``data/tra`` -> ``data``), for a folder listing to filter."""
    return prefix.strip("/").rsplit("/", 1)[0] if "/" in prefix.strip("/") else ""


def _check_registered(workspace: Any, name: str) -> tuple[str, str | None]:
    """``(name as registered, datastore type)``, or Azure ML's ``UserErrorException`` if ``name`` is not
    registered. Inside a DAG file's parse: ``(name, None)``, unchecked (parsing touches no network or
    database). The well-known defaults are not looked up."""
    from amlflow import config
    from amlflow.api.urls import explicit_api_url
    from amlflow.pipeline.core._source import parsing_dag_file
    from amlflow.storage.names import datastore_name_problem
    from amlflow.storage.registry import WELL_KNOWN, lookup, not_found_message

    if parsing_dag_file():
        return name, None
    problem = datastore_name_problem(name)
    if problem:
        raise UserErrorException(f"datastore {problem}")
    defaults = {*WELL_KNOWN, config.get("default_datastore"), getattr(workspace, "default_datastore_name", None)}
    if name in defaults:
        return name, None
    url = explicit_api_url(workspace)
    if url:
        from amlflow.client import client_for

        answer = client_for(workspace).datastore(name)
        return answer["Name"], answer["DatastoreType"]
    found = lookup(name)
    if found is None:
        raise UserErrorException(not_found_message(name))
    return found


def _register(
    workspace: Any,
    datastore_name: str,
    registration: Registration,
    overwrite: bool,
    check: Any = None,
) -> Datastore:
    """Write the connection of a registration, then (``check``) try it with the backend it makes."""
    from amlflow.storage.connections import registered_name, write_connection
    from amlflow.storage.registry import find_connection, forget_backends, get_backend

    name = registered_name(datastore_name)
    write_connection(name, registration, overwrite)
    forget_backends()
    found = find_connection(name)
    if found is None or found.conn_type != registration.conn_type:
        raise UserErrorException(
            f"datastore {name!r}: an environment variable or secrets backend defines it as "
            f"{getattr(found, 'conn_type', None)!r}, which overrides the connection just written"
        )
    if check is not None:
        check(get_backend(name))
    return Datastore._named(workspace, name, registration.datastore_type)


def _require(service: str, **arguments: Any) -> None:
    """Azure ML's errors for the arguments a SQL registration requires ("User id is required for My SQL.")."""
    labels = {"user_id": "User id", "user_password": "User password", "server_name": "Server name"}
    for name, value in arguments.items():
        if value is None:
            raise UserErrorException(f"{labels.get(name, 'Database name')} is required for {service}.")


def _host(server_name: str, endpoint: str) -> str:
    """A SQL server's host from Azure ML's short server name and endpoint; a name with a dot (or
    ``localhost``) is a host already."""
    return server_name if "." in server_name or server_name == "localhost" else f"{server_name}.{endpoint}"


def _register_sql(
    workspace: Any, datastore_name: str, registration: Registration, overwrite: bool, options: dict[str, Any]
) -> Datastore:
    """Register a SQL database; unless ``skip_validation`` (an Azure ML keyword), run a test query."""
    unknown = sorted(set(options) - {"skip_validation"})
    if unknown:
        raise TypeError(f"got an unexpected keyword argument {unknown[0]!r}")
    validate = not options.get("skip_validation", False)
    return _register(workspace, datastore_name, registration, overwrite, (lambda b: b.check()) if validate else None)


def _account_url(account_name: str, service: str, protocol: str | None, endpoint: str | None) -> str:
    """``<protocol>://<account>.<service>.<endpoint>``, or ``endpoint`` itself when it is a whole URL."""
    if endpoint and endpoint.startswith(("http://", "https://")):
        return endpoint.rstrip("/")
    return f"{protocol or 'https'}://{account_name}.{service}.{endpoint or 'core.windows.net'}"


def _common_folder(paths: list[str]) -> str:
    if not paths:
        return os.getcwd()
    common = os.path.commonpath(paths)
    return os.path.dirname(common) if len(paths) == 1 or os.path.isfile(common) else common
