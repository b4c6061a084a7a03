"""A local double of the Azure Data Lake Analytics job REST API (api-version 2016-11-01) and of Azure AD.

Microsoft retired ADLA on 2024-02-29 and there is no emulator, so the tests talk to this double instead.
It is faithful to what the real client calls (``Microsoft.DataLakeAnalytics`` data-plane swagger
``stable/2016-11-01/job.json``):

- ``PUT /Jobs/{jobIdentity}?api-version=2016-11-01`` with a ``CreateJobParameters`` body (checked against the
  swagger's schema; a body the service would reject gets a 400), answering a ``JobInformation``;
- ``GET /Jobs/{jobIdentity}`` answering the ``JobInformation`` of that moment (``state`` moves through
  Compiling, Queued, Running to Ended; ``result`` None, then Succeeded, Failed or Cancelled; ``errorMessage``
  a list of ``JobErrorDetails`` when a U-SQL job fails);
- ``POST /Jobs/{jobIdentity}/CancelJob``.

It serves HTTPS only (MSAL refuses an authority that is not https), with a self-signed certificate made at
start-up; clients trust it through ``ca_file``. It is also the Azure AD authority of the tenant it was made
with: the OpenID configuration and a v2.0 token endpoint that issues a bearer token for the client-credentials
grant of the one registered client, and only for the Data Lake scope. Every job call must carry such a token.

Each job plays the ``Outcome`` of the first plan whose text occurs in the job's name (default: success after
``DEFAULT_SECONDS``). Every request is recorded (``requests``) so a test can assert what was submitted and
that a job was cancelled.
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import json
import os
import re
import secrets
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema

API_VERSION = "2016-11-01"
#: The Data Lake resource ``https://datalake.azure.net/`` as a v2.0 scope (its App ID URI ends with ``/``).
SCOPE = "https://datalake.azure.net//.default"
DEFAULT_SECONDS = 0.5

_SEVERITY = ["Warning", "Error", "Info", "SevereWarning", "Deprecated", "UserWarning"]

#: ``CreateJobParameters`` (allOf ``BaseJobParameters``) and ``CreateUSqlJobProperties`` from the swagger. The
#: swagger leaves additional properties open; the double closes them so a misspelt field fails the test.
CREATE_JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "type", "properties"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "type": {"enum": ["USql", "Hive"]},
        "properties": {
            "type": "object",
            "required": ["script", "type"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["USql", "Hive"]},
                "script": {"type": "string", "maxLength": 3 * 1024 * 1024},
                "runtimeVersion": {"type": "string"},
                "compileMode": {"enum": ["Semantic", "Full", "SingleBox"]},
            },
        },
        "degreeOfParallelism": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        "degreeOfParallelismPercent": {"type": "number"},
        "priority": {"type": "integer", "exclusiveMinimum": 0, "maximum": 2**31 - 1},
        "logFilePatterns": {"type": "array", "items": {"type": "string"}},
        "related": {
            "type": "object",
            "required": ["recurrenceId"],
            "properties": {
                "pipelineId": {"type": "string", "format": "uuid"},
                "pipelineName": {"type": "string", "maxLength": 260},
                "pipelineUri": {"type": "string"},
                "runId": {"type": "string", "format": "uuid"},
                "recurrenceId": {"type": "string", "format": "uuid"},
                "recurrenceName": {"type": "string", "maxLength": 260},
            },
        },
    },
    "not": {"required": ["degreeOfParallelism", "degreeOfParallelismPercent"]},
}


def usql_error(message: str, line: int = 1, error_id: str = "E_CSC_USER_SYNTAXERROR") -> dict[str, Any]:
    """One ``JobErrorDetails`` as the service reports a U-SQL compilation error."""
    return {
        "errorId": error_id,
        "severity": "Error",
        "source": "USER",
        "message": message,
        "description": message,
        "details": f"at token ';', line {line}\nnear the ###:\n******************\n{message}",
        "resolution": "Correct the script and resubmit the job.",
        "lineNumber": line,
        "startOffset": 0,
        "endOffset": 1,
        "helpLink": "",
        "filePath": "",
        "internalDiagnostics": "",
    }


@dataclass
class Outcome:
    """How a job plays: its result after ``seconds`` (None: it runs until cancelled)."""

    result: str = "Succeeded"
    seconds: float | None = DEFAULT_SECONDS
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: called with the submitted ``CreateJobParameters`` when the job succeeds: what the job writes
    on_success: Callable[[dict[str, Any]], None] | None = None

    @classmethod
    def success(cls, seconds: float = DEFAULT_SECONDS, on_success=None) -> Outcome:
        return cls("Succeeded", seconds, [], on_success)

    @classmethod
    def failure(cls, *errors: dict[str, Any], seconds: float = DEFAULT_SECONDS) -> Outcome:
        return cls("Failed", seconds, list(errors))

    @classmethod
    def never_ends(cls) -> Outcome:
        return cls("Succeeded", None)


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


@dataclass
class _Job:
    info: dict[str, Any]
    outcome: Outcome
    submitted: float
    parameters: dict[str, Any]
    ended: bool = False


class AdlaDouble:
    """The double's state and its HTTPS server on 127.0.0.1 (``start`` / ``stop``)."""

    def __init__(self, tenant_id: str = "amlflow-tests", client_id: str | None = None) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id or str(uuid.uuid4())
        self.client_secret = secrets.token_urlsafe(24)
        self.requests: list[Recorded] = []
        self._plans: list[tuple[str, Outcome]] = []
        self._jobs: dict[str, _Job] = {}
        self._tokens: dict[str, float] = {}
        self._lock = threading.Lock()
        self._folder = tempfile.mkdtemp(prefix="adla-double-")
        self.ca_file = os.path.join(self._folder, "cert.pem")
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what tests use -----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "the double is not started"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def plan(self, name_contains: str, outcome: Outcome) -> None:
        """Jobs whose name contains ``name_contains`` play ``outcome`` (the latest matching plan wins)."""
        with self._lock:
            self._plans.insert(0, (name_contains, outcome))

    def submitted(self, name_contains: str) -> list[dict[str, Any]]:
        """The ``CreateJobParameters`` of every job submitted with this text in its name, oldest first."""
        return [
            r.body
            for r in self.requests
            if r.method == "PUT" and r.status == 200 and name_contains in (r.body or {}).get("name", "")
        ]

    def job_ids(self, name_contains: str) -> list[str]:
        with self._lock:
            return [j for j, job in self._jobs.items() if name_contains in job.parameters["name"]]

    def cancels(self, job_id: str) -> int:
        """How many CancelJob calls the job got."""
        return sum(1 for r in self.requests if r.method == "POST" and r.path.lower() == f"/jobs/{job_id}/canceljob")

    def polls(self, job_id: str) -> int:
        """How many times the job's state was read (``GET /Jobs/{jobId}``)."""
        return sum(1 for r in self.requests if r.method == "GET" and r.path.lower() == f"/jobs/{job_id}")

    def issued_tokens(self) -> list[str]:
        """Every bearer token the token endpoint gave out (to assert none reaches a log)."""
        with self._lock:
            return list(self._tokens)

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._advance(self._jobs[job_id]))

    def connection(self, account_name: str = "amlflowtests") -> dict[str, Any]:
        """An Airflow connection (JSON form) for this double, as ``AIRFLOW_CONN_<ID>`` takes it."""
        return {
            "conn_type": "amlflow_adla",
            "login": self.client_id,
            "password": self.client_secret,
            "extra": {
                "tenant_id": self.tenant_id,
                "account_name": account_name,
                "endpoint": self.url,
                "authority_host": self.url,
                "ca_bundle": self.ca_file,
            },
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> AdlaDouble:
        cert, key = _self_signed_certificate(self._folder)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="adla-double", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # -- Azure AD ----------------------------------------------------------------------------------
    def _openid_configuration(self) -> dict[str, Any]:
        base = f"{self.url}/{self.tenant_id}"
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "tenant_region_scope": "EU",
        }

    def _issue_token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def one(key: str) -> str:
            return (form.get(key) or [""])[0]

        if one("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003: grant type"}
        if one("client_id") != self.client_id or one("client_secret") != self.client_secret:
            return 401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."}
        if SCOPE not in one("scope").split():
            return 400, {"error": "invalid_scope", "error_description": f"AADSTS70011: scope {one('scope')!r}"}
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = time.time() + 3600
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return False
        with self._lock:
            return self._tokens.get(header.removeprefix("Bearer "), 0) > time.time()

    # -- jobs --------------------------------------------------------------------------------------
    def _outcome_for(self, name: str) -> Outcome:
        for text, outcome in self._plans:
            if text in name:
                return outcome
        return Outcome.success()

    def _create(self, job_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        errors = sorted(jsonschema.Draft7Validator(CREATE_JOB_SCHEMA).iter_errors(body), key=str)
        if errors:
            where = "/".join(str(p) for p in errors[0].absolute_path) or "(body)"
            return 400, _error("InvalidRequestBody", f"{where}: {errors[0].message}")
        with self._lock:
            if job_id in self._jobs:
                return 409, _error("JobAlreadyExists", f"a job with id {job_id} already exists")
            now = _now()
            info = {
                "jobId": job_id,
                "name": body["name"],
                "type": body["type"],
                "submitter": f"{self.client_id}@{self.tenant_id}",
                "degreeOfParallelism": body.get("degreeOfParallelism", 1),
                "priority": body.get("priority", 1000),
                "submitTime": now,
                "state": "Compiling",
                "result": "None",
                "logFolder": f"adl://amlflowtests.azuredatalakestore.net/system/jobservice/jobs/Usql/{job_id}/logs/",
                "logFilePatterns": body.get("logFilePatterns", []),
                "stateAuditRecords": [{"newState": "New", "timeStamp": now, "details": "userName:;submitMachine:"}],
                "properties": {
                    "type": body["properties"]["type"],
                    "script": body["properties"]["script"],
                    "runtimeVersion": body["properties"].get("runtimeVersion", "default"),
                },
                "errorMessage": [],
            }
            self._jobs[job_id] = _Job(info, self._outcome_for(body["name"]), time.time(), body)
            return 200, copy.deepcopy(info)

    def _get(self, job_id: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return 404, _error("JobNotFound", f"job {job_id} was not found")
            return 200, copy.deepcopy(self._advance(job))

    def _cancel(self, job_id: str) -> tuple[int, dict[str, Any] | None]:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return 404, _error("JobNotFound", f"job {job_id} was not found")
            self._advance(job)
            if not job.ended:
                self._end(job, "Cancelled", "Cancelled by user")
            return 200, None

    def _advance(self, job: _Job) -> dict[str, Any]:
        """Move the job to where its outcome has it by now (called under the lock)."""
        if job.ended:
            return job.info
        elapsed = time.time() - job.submitted
        seconds = job.outcome.seconds
        if seconds is not None and elapsed >= seconds:
            if job.outcome.result == "Succeeded" and job.outcome.on_success is not None:
                job.outcome.on_success(job.parameters)
            job.info["errorMessage"] = copy.deepcopy(job.outcome.errors)
            self._end(job, job.outcome.result, "")
        else:
            state = "Compiling" if elapsed < 0.1 else "Running"
            if job.info["state"] != state:
                job.info["state"] = state
                job.info.setdefault("startTime", _now())
                job.info["stateAuditRecords"].append({"newState": state, "timeStamp": _now()})
        return job.info

    def _end(self, job: _Job, result: str, details: str) -> None:
        job.ended = True
        job.info.update(state="Ended", result=result, endTime=_now())
        job.info["stateAuditRecords"].append({"newState": "Ended", "timeStamp": _now(), "details": details})

    # -- HTTP --------------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, headers, body: bytes) -> tuple[int, Any]:
        tenant = re.escape(self.tenant_id)
        if method == "GET" and re.fullmatch(rf"/{tenant}/v2\.0/\.well-known/openid-configuration", path):
            return 200, self._openid_configuration()
        if method == "POST" and re.fullmatch(rf"/{tenant}/oauth2/v2\.0/token", path):
            return self._issue_token(parse_qs(body.decode()))
        match = re.fullmatch(r"/jobs/([^/]+)(/canceljob)?", path, re.IGNORECASE)
        if match is None:
            return 404, _error("NotFound", f"no route {method} {path}")
        if query.get("api-version") != [API_VERSION]:
            return 400, _error("InvalidApiVersionParameter", f"api-version must be {API_VERSION}")
        if not self._authorized(headers.get("Authorization")):
            return 401, _error("AuthenticationFailed", "the access token is missing, invalid or expired")
        job_id, cancel = match.group(1), match.group(2)
        try:
            job_id = str(uuid.UUID(job_id))
        except ValueError:
            return 400, _error("InvalidJobId", f"job identity {job_id!r} is not a GUID")
        if cancel and method == "POST":
            return self._cancel(job_id)
        if not cancel and method == "PUT":
            if headers.get("Content-Type", "").split(";")[0] != "application/json":
                return 415, _error("UnsupportedMediaType", "the body must be application/json")
            try:
                parsed = json.loads(body)
            except ValueError:
                return 400, _error("InvalidRequestBody", "the body is not JSON")
            return self._create(job_id, parsed)
        if not cancel and method == "GET":
            return self._get(job_id)
        return 405, _error("MethodNotAllowed", f"{method} is not allowed on {path}")


def _handler(double: AdlaDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            query = parse_qs(parts.query)
            status, answer = double._route(self.command, parts.path, query, self.headers, body)
            recorded_body: Any = None
            if body and parts.path.lower().startswith("/jobs/"):
                try:
                    recorded_body = json.loads(body)
                except ValueError:
                    recorded_body = body.decode(errors="replace")
            with double._lock:
                double.requests.append(Recorded(self.command, parts.path, query, recorded_body, status))
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the recorded requests say what happened."""

    return Handler


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def _self_signed_certificate(folder: str) -> tuple[str, str]:
    """A certificate for 127.0.0.1 and localhost, valid one day; it is also the CA file clients trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "adla-double")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    with open(cert_path, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path
