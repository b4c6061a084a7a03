"""A local HTTP double of the Azure Files REST API calls amlflow's file-share backend makes.

No emulator of Azure Files exists (Azurite serves Blob, Queue and Table only), so the backend is tested
against this double, which the real ``azure-storage-file-share`` SDK talks to over HTTP as to Azure
(learn.microsoft.com/rest/api/storageservices/file-service-rest-api): create and get a share
(``?restype=share``), create, get and list a directory (``?restype=directory[&comp=list]``), create a
file (``x-ms-type: file``, ``x-ms-content-length``), write a range (``?comp=range``, ``x-ms-range``,
at most 4 MiB), read a file or a range of it (206 with ``Content-Range``; 416 for a range of an empty
file, as Azure answers), get its properties (``HEAD``), rename (``?comp=rename``) and delete one. Missing
parents, shares and files get Azure's status codes and ``x-ms-error-code`` (``ParentNotFound``,
``ShareNotFound``, ``ResourceNotFound``, ``ResourceAlreadyExists``), with its XML error body.

Requests must carry ``Authorization: SharedKey <account>:...`` or a SAS ``sig``; the signature itself is
not verified (the SDK computes it; checking it would test the SDK). ``requests`` records every call.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from tests.doubles import servers

MAX_RANGE = 4 * 1024 * 1024
_RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@dataclass
class _File:
    data: bytearray
    version: int = 1

    @property
    def etag(self) -> str:
        return '"0x' + hashlib.sha1(f"{id(self)}/{self.version}".encode()).hexdigest()[:16].upper() + '"'


@dataclass
class FileShareDouble(servers.Served):
    account: str
    shares: dict[str, dict[str, _File | None]] = field(default_factory=dict)  # path -> file, None: a directory
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        return _Handler

    @property
    def url(self) -> str:
        """The account's file endpoint (Azure's ``https://<account>.file.core.windows.net``)."""
        return f"{servers.url(self._server)}/{self.account}"

    def files(self, share: str) -> dict[str, bytes]:
        """Every file of ``share`` by path, to look behind the backend."""
        with self._lock:
            return {p: bytes(f.data) for p, f in self.shares.get(share, {}).items() if f is not None}

    # -- the API -------------------------------------------------------------------------------------
    def handle(self, method: str, share: str, path: str, query: dict[str, str], headers: Any, body: bytes):
        restype, comp = query.get("restype"), query.get("comp")
        if restype == "share":
            return self._share(method, share)
        if share not in self.shares:
            return _error(404, "ShareNotFound", "The specified share does not exist.")
        entries = self.shares[share]
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if restype == "directory" and comp == "list":
            return self._list(share, path, entries, "etag" in query.get("include", "").lower())
        if restype == "directory":
            if method == "PUT":
                if parent and entries.get(parent, 0) is not None:
                    return _error(404, "ParentNotFound", "The specified parent path does not exist.")
                if path in entries:
                    return _error(409, "ResourceAlreadyExists", "The specified resource already exists.")
                entries[path] = None
                return 201, _file_headers('"0x1"'), b""
            if path and entries.get(path, 0) is not None:
                return _error(404, "ResourceNotFound", "The specified resource does not exist.")
            return 200, _file_headers('"0x1"'), b""
        if comp == "rename":
            source = unquote(urlsplit(headers.get("x-ms-file-rename-source", "")).path).split("/", 3)[-1]
            moved = entries.get(source)
            if not isinstance(moved, _File):
                return _error(404, "ResourceNotFound", "The specified resource does not exist.")
            if path in entries and headers.get("x-ms-file-rename-replace-if-exists") != "true":
                return _error(409, "ResourceAlreadyExists", "The specified resource already exists.")
            del entries[source]
            entries[path] = moved
            return 200, _file_headers(moved.etag), b""
        if method == "PUT" and comp == "range":
            return self._put_range(entries.get(path), headers, body)
        if method == "PUT":
            if parent and entries.get(parent, 0) is not None:
                return _error(404, "ParentNotFound", "The specified parent path does not exist.")
            size = int(headers.get("x-ms-content-length", "0"))
            entries[path] = _File(bytearray(size))
            return 201, _file_headers(entries[path].etag), b""
        found = entries.get(path)
        if not isinstance(found, _File):
            return _error(404, "ResourceNotFound", "The specified resource does not exist.")
        if method == "DELETE":
            del entries[path]
            return 202, {}, b""
        if method == "HEAD":
            return 200, {**_file_headers(found.etag), "Content-Length": str(len(found.data))}, b""
        return self._get(found, headers)

    def _share(self, method: str, share: str):
        if method == "PUT":
            if share in self.shares:
                return _error(409, "ShareAlreadyExists", "The specified share already exists.")
            self.shares[share] = {}
            return 201, {"ETag": '"0x1"', "Last-Modified": formatdate(usegmt=True)}, b""
        if share not in self.shares:
            return _error(404, "ShareNotFound", "The specified share does not exist.")
        return 200, {"ETag": '"0x1"', "Last-Modified": formatdate(usegmt=True), "x-ms-share-quota": "5120"}, b""

    def _list(self, share: str, folder: str, entries: dict[str, _File | None], etags: bool):
        if folder and entries.get(folder, 0) is not None:
            return _error(404, "ResourceNotFound", "The specified resource does not exist.")
        prefix = f"{folder}/" if folder else ""
        items = []
        for path, item in sorted(entries.items()):
            if not path.startswith(prefix) or "/" in path[len(prefix) :]:
                continue
            name = escape(path[len(prefix) :])
            if item is None:
                items.append(f"<Directory><Name>{name}</Name><Properties /></Directory>")
            else:
                etag = f"<Etag>{escape(item.etag)}</Etag>" if etags else ""
                size = f"<Content-Length>{len(item.data)}</Content-Length>"
                items.append(f"<File><Name>{name}</Name><Properties>{size}{etag}</Properties></File>")
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="{escape(self.url)}/" ShareName="{escape(share)}" '
            f'DirectoryPath="{escape(folder)}"><Entries>{"".join(items)}</Entries><NextMarker /></EnumerationResults>'
        )
        return 200, {"Content-Type": "application/xml"}, body.encode()

    def _put_range(self, found: _File | None, headers: Any, body: bytes):
        if not isinstance(found, _File):
            return _error(404, "ResourceNotFound", "The specified resource does not exist.")
        match = _RANGE.fullmatch(headers.get("x-ms-range") or headers.get("Range") or "")
        if not match or not match.group(2):
            return _error(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not valid.")
        start, end = int(match.group(1)), int(match.group(2))
        if end - start + 1 != len(body) or len(body) > MAX_RANGE or end >= len(found.data):
            return _error(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
        found.data[start : end + 1] = body
        found.version += 1
        return 201, _file_headers(found.etag), b""

    def _get(self, found: _File, headers: Any):
        size = len(found.data)
        wanted = headers.get("x-ms-range") or headers.get("Range")
        if not wanted:
            return 200, {**_file_headers(found.etag), "Content-Length": str(size)}, bytes(found.data)
        match = _RANGE.fullmatch(wanted)
        start = int(match.group(1)) if match else 0
        if start >= size:
            return _error(416, "InvalidRange", "The range specified is invalid for the current size of the resource.")
        end = min(int(match.group(2)) if match and match.group(2) else size - 1, size - 1)
        chunk = bytes(found.data[start : end + 1])
        answer = {**_file_headers(found.etag), "Content-Length": str(len(chunk))}
        answer["Content-Range"] = f"bytes {start}-{end}/{size}"
        return 206, answer, chunk


def _file_headers(etag: str) -> dict[str, str]:
    return {"ETag": etag, "Last-Modified": formatdate(usegmt=True), "x-ms-type": "File"}


def _error(status: int, code: str, message: str):
    body = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{message}</Message></Error>'
    return status, {"x-ms-error-code": code, "Content-Type": "application/xml"}, body.encode()


class _Handler(BaseHTTPRequestHandler):
    owner: FileShareDouble
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = unquote(url.path).lstrip("/").split("/", 2)
        signed = (self.headers.get("Authorization") or "").startswith(f"SharedKey {self.owner.account}:")
        if not signed and "sig" not in query:
            status, headers, answer = _error(403, "AuthenticationFailed", "Server failed to authenticate the request.")
        elif len(parts) < 2 or parts[0] != self.owner.account:
            status, headers, answer = _error(400, "InvalidUri", "The requested URI does not represent any resource.")
        else:
            share, path = parts[1], parts[2].strip("/") if len(parts) > 2 else ""
            with self.owner._lock:
                self.owner.requests.append((self.command, self.path))
                status, headers, answer = self.owner.handle(self.command, share, path, query, self.headers, body)
        self.send_response(status)
        headers = {"x-ms-version": self.headers.get("x-ms-version", ""), "x-ms-request-id": "double", **headers}
        headers.setdefault("Content-Length", str(len(answer)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    do_GET = do_PUT = do_DELETE = do_HEAD = _serve
