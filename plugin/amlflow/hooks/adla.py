"""``AdlaHook``: the Azure Data Lake Analytics job REST API (api-version 2016-11-01), for AdlaStep.

Microsoft retired Azure Data Lake Analytics on 2024-02-29; this hook keeps ported AdlaStep pipelines
runnable against any endpoint that still speaks the API (and against the test double).

The connection (conn type ``amlflow_adla``, its id the AdlaCompute's name) holds a service principal:

- ``login``: client (application) id; ``password``: client secret;
- extra ``tenant_id`` (required); ``account_name`` (used when the step's compute does not name one);
- extra ``endpoint``: the job API's base URL (default ``https://{account}.azuredatalakeanalytics.net``);
- extra ``authority_host``: the Azure AD authority (default Azure public cloud); a custom one also turns
  off MSAL's instance discovery, which would otherwise ask the public cloud whether the authority is known;
- extra ``ca_bundle``: a CA file to trust for both (a private CA, or the test double's certificate).

Tokens come from azure-identity's ``ClientSecretCredential`` for the Data Lake resource. Neither the
secret nor a token is ever logged or put in an error message.
"""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any

import requests
from airflow.sdk import BaseHook
from asgiref.sync import sync_to_async

from amlflow.exceptions import StepFailedError

API_VERSION = "2016-11-01"
#: The Data Lake resource ``https://datalake.azure.net/`` as a v2.0 scope: its App ID URI ends with ``/``.
SCOPE = "https://datalake.azure.net//.default"
DNS_SUFFIX = "azuredatalakeanalytics.net"
#: ``JobInformation.state`` once a job has finished; ``result`` then says how.
ENDED = "Ended"
#: HTTP statuses worth a retry: throttled, or the service (or a proxy in front of it) briefly unavailable.
TRANSIENT = frozenset({429, 500, 502, 503, 504})
RETRIES = 3


class AdlaJobError(StepFailedError):
    """The job API refused a call; the message has the status and the service's error, never a credential."""


class AdlaHook(BaseHook):
    """Submit, read and cancel U-SQL jobs of one Data Lake Analytics account."""

    conn_name_attr = "adla_conn_id"
    default_conn_name = "adla_default"
    conn_type = "amlflow_adla"
    hook_name = "Azure Data Lake Analytics (amlflow)"

    def __init__(self, adla_conn_id: str = default_conn_name, account_name: str | None = None) -> None:
        super().__init__()
        self.adla_conn_id = adla_conn_id
        self._account_name = account_name

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form of Airflow's UI: client id and secret as login and password, the account in the extra."""
        return {
            "hidden_fields": ["schema", "port", "host"],
            "relabeling": {"login": "Client ID", "password": "Client secret"},
            "placeholders": {
                "extra": '{"tenant_id": "...", "account_name": "...", "endpoint": "(optional)", '
                '"authority_host": "(optional)", "ca_bundle": "(optional)"}'
            },
        }

    # -- connection ---------------------------------------------------------------------------------
    @cached_property
    def _extra(self) -> dict[str, Any]:
        return self._connection.extra_dejson or {}

    @cached_property
    def _connection(self):
        return self.get_connection(self.adla_conn_id)

    @property
    def account_name(self) -> str:
        """The ADLA account: the one given, else the connection's ``account_name``; ``AdlaJobError`` if neither names
        one.
        """
        account = self._account_name or self._extra.get("account_name")
        if not account:
            raise AdlaJobError(
                f"connection {self.adla_conn_id!r}: no ADLA account name (attach_configuration(account_name=...) "
                "or 'account_name' in the connection's extra)"
            )
        return account

    @property
    def endpoint(self) -> str:
        """The account's job service URL: the connection's ``endpoint``, else the account's default."""
        return (self._extra.get("endpoint") or f"https://{self.account_name}.{DNS_SUFFIX}").rstrip("/")

    @property
    def _verify(self) -> str | bool:
        return self._extra.get("ca_bundle") or True

    @cached_property
    def _credential(self):
        from azure.identity import ClientSecretCredential

        conn = self._connection
        tenant_id = self._extra.get("tenant_id")
        if not (tenant_id and conn.login and conn.password):
            raise AdlaJobError(
                f"connection {self.adla_conn_id!r}: needs the client id (login), the client secret (password) "
                "and 'tenant_id' in its extra"
            )
        authority = self._extra.get("authority_host")
        options: dict[str, Any] = {"connection_verify": self._verify}
        if authority:
            options.update(authority=authority, disable_instance_discovery=True)
        return ClientSecretCredential(tenant_id, conn.login, conn.password, **options)

    @cached_property
    def _session(self) -> requests.Session:
        return requests.Session()

    # -- the job API --------------------------------------------------------------------------------
    def submit_job(
        self,
        job_id: str,
        name: str,
        script: str,
        degree_of_parallelism: int = 1,
        priority: int = 1000,
        runtime_version: str | None = None,
    ) -> dict[str, Any]:
        """``PUT /Jobs/{jobId}``: submit a U-SQL job; returns its ``JobInformation``."""
        properties: dict[str, Any] = {"type": "USql", "script": script}
        if runtime_version:
            properties["runtimeVersion"] = runtime_version
        body = {
            "type": "USql",
            "name": name,
            "degreeOfParallelism": degree_of_parallelism,
            "priority": priority,
            "properties": properties,
        }
        return self._call("PUT", f"/Jobs/{job_id}", body)

    def get_job(self, job_id: str) -> dict[str, Any]:
        """``GET /Jobs/{jobId}``: the job's ``JobInformation`` now."""
        return self._call("GET", f"/Jobs/{job_id}")

    def cancel_job(self, job_id: str) -> None:
        """``POST /Jobs/{jobId}/CancelJob``; cancelling a job that has ended changes nothing."""
        self._call("POST", f"/Jobs/{job_id}/CancelJob")

    # In the triggerer, a connection must be read with the async API (the sync one, from a worker thread,
    # never gets its answer); once read, the blocking calls run in a thread, off the event loop.
    async def _a_connection(self) -> None:
        if "_connection" not in self.__dict__:
            self.__dict__["_connection"] = await self.aget_connection(self.adla_conn_id)

    async def a_get_job(self, job_id: str) -> dict[str, Any]:
        """``get_job`` for the triggerer: the connection is read asynchronously, the call runs in a thread."""
        await self._a_connection()
        return await sync_to_async(self.get_job, thread_sensitive=False)(job_id)

    async def a_cancel_job(self, job_id: str) -> None:
        """``cancel_job`` for the triggerer: the connection is read asynchronously, the call runs in a thread."""
        await self._a_connection()
        await sync_to_async(self.cancel_job, thread_sensitive=False)(job_id)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.endpoint}{path}"
        for attempt in range(RETRIES + 1):
            token = self._credential.get_token(SCOPE).token
            try:
                response = self._session.request(
                    method,
                    url,
                    params={"api-version": API_VERSION},
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    # Per request: requests lets REQUESTS_CA_BUNDLE override a session's ``verify``.
                    verify=self._verify,
                    timeout=(10, 60),
                )
            except requests.exceptions.SSLError as error:
                raise AdlaJobError(f"ADLA {method} {url}: TLS failed ({_reason(error)})") from None
            except requests.ConnectionError as error:
                if attempt == RETRIES:
                    raise AdlaJobError(f"ADLA {method} {url}: cannot connect ({_reason(error)})") from None
            else:
                if response.status_code not in TRANSIENT or attempt == RETRIES:
                    break
            time.sleep(2**attempt)
        if response.status_code >= 400:
            raise AdlaJobError(f"ADLA {method} {url} answered {response.status_code}: {_service_error(response)}")
        return response.json() if response.content else None


def _reason(error: Exception) -> str:
    """The innermost cause of a connection error, on one line (it names hosts and ports, no credentials)."""
    cause: BaseException = error
    while cause.__cause__ is not None or (cause.args and isinstance(cause.args[0], BaseException)):
        cause = cause.__cause__ or cause.args[0]
    return f"{type(cause).__name__}: {cause}".splitlines()[0][:300]


def _service_error(response: requests.Response) -> str:
    """The service's own error message (``{"error": {"code", "message"}}``), or the start of the body."""
    try:
        error = response.json().get("error", {})
        return f"{error.get('code', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, AttributeError):
        return response.text[:300]


def job_summary(job: dict[str, Any]) -> dict[str, Any]:
    """What the task log and the trigger event carry of a ``JobInformation`` (no script, no paths of logs)."""
    return {
        "jobId": job.get("jobId"),
        "name": job.get("name"),
        "state": job.get("state"),
        "result": job.get("result"),
        "errorMessage": job.get("errorMessage") or [],
    }


def describe_errors(job: dict[str, Any]) -> list[str]:
    """One line per ``JobErrorDetails``: id, line, message, and the resolution the service suggests."""
    lines = []
    for error in job.get("errorMessage") or []:
        where = f" at line {error['lineNumber']}" if error.get("lineNumber") else ""
        text = error.get("message") or error.get("description") or ""
        line = f"{error.get('errorId', 'error')}{where}: {text}"
        if error.get("resolution"):
            line += f" ({error['resolution']})"
        lines.append(line)
    return lines
