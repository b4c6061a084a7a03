"""Authentication for this Airflow's REST API, with Azure ML's ``get_authentication_header()``.

Azure ML code gets a header and posts to a published pipeline's endpoint::

    auth = AirflowTokenAuthentication()            # or InteractiveLoginAuthentication()
    aad_token = auth.get_authentication_header()   # {"Authorization": "Bearer <JWT>"}
    requests.post(published_pipeline1.endpoint, headers=aad_token, json={...})

The token is an Airflow JWT from ``POST /auth/token``, fetched on first use and again shortly before it
expires (read from its ``exp`` claim). Settings come from the arguments, else the environment
(``AMLFLOW_API_URL``, ``AMLFLOW_USERNAME``, ``AMLFLOW_PASSWORD``), else the workspace config file
(``.azureml/config.json``: ``api_url``, ``username``). A password is never read from that file (it is
often committed), and neither the password nor a token is ever logged or shown in an error.
"""

from __future__ import annotations

import base64
import getpass
import json
import os
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any, NamedTuple

from amlflow.exceptions import AuthenticationException

#: Get a new token this many seconds before the current one expires.
REFRESH_MARGIN_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 30


class AccessToken(NamedTuple):
    """A token and when it expires (seconds since the epoch), as ``azure.core.credentials.AccessToken``."""

    token: str
    expires_on: int


def token_expiry(token: str) -> int | None:
    """The ``exp`` claim of a JWT, read without checking its signature (the server checks that)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return None


class AirflowTokenAuthentication:
    """Bearer tokens for an Airflow api-server, from a user name and password (SimpleAuthManager, FAB...).

    :param api_url: the api-server's URL, e.g. ``http://127.0.0.1:8080``.
    :param username: the Airflow user.
    :param password: its password.
    :param workspace: a ``Workspace`` whose config file gives ``api_url`` and ``username`` when neither the
        arguments nor the environment do.
    """

    def __init__(
        self,
        api_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        workspace: Any = None,
    ) -> None:
        self._api_url = api_url
        self._username = username
        self._password = password
        self._workspace = workspace
        self._token: AccessToken | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        # Never the password or the token.
        return f"{type(self).__name__}(api_url={self.api_url!r}, username={self.username!r})"

    # -- settings ----------------------------------------------------------------------------------
    @property
    def api_url(self) -> str:
        """The api-server's base URL: the one given, else the workspace's, else ``api_url`` of the config file."""
        from amlflow.api.urls import api_base_url

        explicit = (self._api_url or "").rstrip("/")
        if explicit:
            return explicit
        workspace = self._workspace
        if workspace is None:
            workspace = SimpleNamespace(api_url=self._config().get("api_url"))
        return api_base_url(workspace)

    @property
    def username(self) -> str | None:
        """The Airflow user name: the one given, else ``AMLFLOW_USERNAME``, else the config file's."""
        return self._username or os.environ.get("AMLFLOW_USERNAME") or self._config().get("username")

    def _password_value(self) -> str | None:
        return self._password or os.environ.get("AMLFLOW_PASSWORD")

    def _config(self) -> dict[str, Any]:
        path = getattr(self._workspace, "_config_path", None)
        if not path:
            from amlflow.core.workspace import CONFIG_FILE, _find_config

            path = _find_config(os.getcwd(), CONFIG_FILE)
        if not path:
            return {}
        with open(path) as handle:
            return json.load(handle)

    def _bind(self, workspace: Any) -> None:
        """Use ``workspace``'s settings where this object was given none (a Workspace made with ``auth=``)."""
        if self._workspace is None:
            self._workspace = workspace

    # -- Azure ML's authentication API -------------------------------------------------------------
    def get_authentication_header(self) -> dict[str, str]:
        """``{"Authorization": "Bearer <JWT>"}`` for this Airflow, with a token valid for at least a minute."""
        return {"Authorization": f"Bearer {self.get_token().token}"}

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        """A token valid for at least ``REFRESH_MARGIN_SECONDS``, fetched again when needed; ``scopes`` are ignored."""
        with self._lock:
            if self._token is None or self._token.expires_on - REFRESH_MARGIN_SECONDS <= time.time():
                self._token = self._fetch_token()
            return self._token

    def _invalidate(self) -> None:
        """Forget the token (the server said it expired or was revoked): the next call gets a new one."""
        with self._lock:
            self._token = None

    def _fetch_token(self) -> AccessToken:
        import requests

        from amlflow.responses import error_message

        url, username, password = self.api_url, self.username, self._password_value()
        if not username:
            raise AuthenticationException(
                f'no Airflow user for {url}: pass username=..., set AMLFLOW_USERNAME, or put "username" in '
                ".azureml/config.json"
            )
        if not password:
            password = self._missing_password(url, username)
        try:
            answer = requests.post(
                f"{url}/auth/token",
                json={"username": username, "password": password},
                timeout=REQUEST_TIMEOUT_SECONDS,
            )
        except requests.RequestException as error:
            raise AuthenticationException(
                f"could not reach the Airflow api-server at {url} for a token: {type(error).__name__}"
            ) from None
        if answer.status_code not in (200, 201):
            raise AuthenticationException(
                f"Airflow at {url} refused a token to user {username!r}: HTTP {answer.status_code} "
                f"{error_message(answer)}"
            )
        token = answer.json().get("access_token")
        if not token:
            raise AuthenticationException(f"Airflow at {url} answered POST /auth/token without an access_token")
        # A token without ``exp`` is kept for an hour, Airflow's shortest default lifetime.
        return AccessToken(token, token_expiry(token) or int(time.time()) + 3600)

    def _missing_password(self, url: str, username: str) -> str:
        raise AuthenticationException(
            f"no password for Airflow user {username!r} at {url}: pass password=... or set AMLFLOW_PASSWORD"
        )


class InteractiveLoginAuthentication(AirflowTokenAuthentication):
    """As ``AirflowTokenAuthentication``, but asks for the password on the terminal when none is configured.

    Azure ML's class logs in interactively; here "interactive" is a password prompt for the Airflow user.
    ``force``, ``tenant_id`` and ``cloud`` are accepted for ported code and have no meaning for Airflow.
    """

    def __init__(
        self,
        force: bool = False,
        tenant_id: str | None = None,
        cloud: str | None = None,
        *,
        api_url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        workspace: Any = None,
    ) -> None:
        super().__init__(api_url=api_url, username=username, password=password, workspace=workspace)

    def _missing_password(self, url: str, username: str) -> str:
        if not sys.stdin or not sys.stdin.isatty():
            return super()._missing_password(url, username)
        self._password = getpass.getpass(f"Password for Airflow user {username!r} at {url}: ")
        return self._password


class ServicePrincipalAuthentication(AirflowTokenAuthentication):
    """A non-personal Airflow user (a service account), named as Azure ML names a service principal.

    ``service_principal_id`` is the Airflow user name and ``service_principal_password`` its password;
    ``tenant_id`` and ``cloud`` are accepted for ported code and have no meaning for Airflow.
    """

    def __init__(
        self,
        tenant_id: str | None,
        service_principal_id: str,
        service_principal_password: str,
        cloud: str = "AzureCloud",
        _enable_caching: bool = True,
        *,
        api_url: str | None = None,
        workspace: Any = None,
    ) -> None:
        super().__init__(
            api_url=api_url,
            username=service_principal_id,
            password=service_principal_password,
            workspace=workspace,
        )
