"""Where the authentication class finds its settings, and what it never shows; the plugin's registration."""

from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest

from amlflow.core import (
    AirflowTokenAuthentication,
    InteractiveLoginAuthentication,
    ServicePrincipalAuthentication,
    Workspace,
)
from amlflow.core.authentication import token_expiry
from amlflow.exceptions import AuthenticationException


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("AMLFLOW_API_URL", "AMLFLOW_USERNAME", "AMLFLOW_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(folder, **values) -> Workspace:
    (folder / ".azureml").mkdir(exist_ok=True)
    (folder / ".azureml" / "config.json").write_text(json.dumps({"workspace_name": "ws", **values}))
    return Workspace.from_config(path=str(folder))


def test_settings_come_from_arguments_then_environment_then_the_workspace_config_file(clean_env, monkeypatch):
    ws = write_config(clean_env, api_url="http://config:1", username="from-config")
    auth = AirflowTokenAuthentication(workspace=ws)
    assert (auth.api_url, auth.username) == ("http://config:1", "from-config")
    monkeypatch.setenv("AMLFLOW_USERNAME", "from-env")
    assert AirflowTokenAuthentication(workspace=ws).username == "from-env"
    explicit = AirflowTokenAuthentication(api_url="http://arg:2/", username="from-arg", workspace=ws)
    assert (explicit.api_url, explicit.username) == ("http://arg:2", "from-arg")
    # With no workspace object, the config file of the current folder is read, as Workspace.from_config does.
    assert AirflowTokenAuthentication().api_url == "http://config:1"


def test_environment_url_is_used_without_a_config_file(clean_env, monkeypatch):
    monkeypatch.setenv("AMLFLOW_API_URL", "http://env:3/")
    assert AirflowTokenAuthentication().api_url == "http://env:3"


def test_a_missing_password_is_an_error_that_says_how_to_give_one(clean_env):
    auth = AirflowTokenAuthentication(api_url="http://127.0.0.1:9", username="admin")
    with pytest.raises(AuthenticationException, match=r"no password for Airflow user 'admin'.*AMLFLOW_PASSWORD"):
        auth.get_authentication_header()
    with pytest.raises(AuthenticationException, match=r"no Airflow user for http://127\.0\.0\.1:9.*AMLFLOW_USERNAME"):
        AirflowTokenAuthentication(api_url="http://127.0.0.1:9", password="x").get_authentication_header()


def test_the_password_never_shows_in_repr_or_errors(clean_env):
    secret = "s3cr3t-Pa55"
    auth = AirflowTokenAuthentication(api_url="http://127.0.0.1:9", username="admin", password=secret)
    assert secret not in repr(auth)
    with pytest.raises(AuthenticationException) as caught:  # nothing listens on port 9
        auth.get_authentication_header()
    assert "could not reach the Airflow api-server at http://127.0.0.1:9" in str(caught.value)
    assert secret not in str(caught.value)


def test_service_principal_is_an_airflow_user_with_a_password(clean_env):
    auth = ServicePrincipalAuthentication("tenant", "svc-account", "pw", api_url="http://x:1")
    assert (auth.username, auth._password_value(), auth.api_url) == ("svc-account", "pw", "http://x:1")
    assert isinstance(InteractiveLoginAuthentication(), AirflowTokenAuthentication)


def test_token_expiry_is_read_from_the_jwt_exp_claim():
    claims = base64.urlsafe_b64encode(json.dumps({"sub": "1", "exp": 1893456000}).encode()).rstrip(b"=").decode()
    assert token_expiry(f"header.{claims}.signature") == 1893456000
    assert token_expiry("not-a-jwt") is None


def test_the_plugin_is_registered_and_its_module_builds_no_app_on_import():
    from importlib.metadata import entry_points

    from amlflow.provider import get_provider_info

    assert [e.value for e in entry_points(group="airflow.plugins") if e.name == "amlflow"] == [
        "amlflow.api.plugin:AmlflowPlugin"
    ]
    assert {"name": "amlflow", "plugin-class": "amlflow.api.plugin.AmlflowPlugin"} in get_provider_info()["plugins"]
    # Every Airflow process (task processes too) loads plugins: importing this one must not build the app
    # (the integration tests show the api-server serves it).
    probe = (
        "import sys, amlflow.api.plugin\n"
        "assert 'amlflow.api.app' not in sys.modules and 'fastapi' not in sys.modules, 'app built at import'\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
