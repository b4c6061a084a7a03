"""Where a dataset's files are: the ``sources`` of a definition, made from what users pass, and the files
they name.

Source entries: ``{"datastore": name, "path": path-or-glob}`` (``*``, ``**``, ``?``; a folder means every
file under it), ``{"url": "http(s)://..."}`` (one file, read with urllib), and ``{"local": path, "root":
folder, "origin": path where it was defined}``, made only by ``localized()`` for a script that reads
without datastore credentials.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from amlflow.data.dataset_error_handling import DatasetValidationError
from amlflow.exceptions import UserErrorException

#: Seconds an http(s) source may take to answer; a stuck server fails the read instead of hanging a task.
URL_TIMEOUT = 60

INVALID_PATH = (
    'Invalid argument type for `path`. It can be single value or a list of: string starting with "http://" or '
    '"https://", `amlflow.data.datapath.DataPath` object, or tuple of `amlflow.core.Datastore` object and string '
    "for relative path in the datastore. Url of blob can't contains SAS token, please use datastore instead."
)
LOCAL_REFUSED = (
    "Dataset path {path!r} is a local path: a dataset is read where its pipeline runs, where this machine's files "
    "are not. Upload the files with Datastore.upload(src_dir, target_path) (or upload_files) and use "
    "(datastore, target_path) as the path."
)
_URL = re.compile(r"^https?://", re.IGNORECASE)
_STORAGE_URL = re.compile(r"^(adl|wasbs?|abfss?)://", re.IGNORECASE)
_BLOB_WITH_SAS = re.compile(r"^https?://\w*\.blob\.[\w./]*\?.*", re.IGNORECASE)


def sources_from_path(path: Any) -> list[dict[str, Any]]:
    """The source entries of ``from_files``/``from_*_files``'s ``path`` argument, checked as Azure ML does."""
    from amlflow.core.datastore import Datastore
    from amlflow.data.data_reference import DataReference
    from amlflow.data.datapath import DataPath

    if path is None:
        raise UserErrorException(INVALID_PATH)
    items = path if isinstance(path, list) else [path]
    if not items:
        raise UserErrorException(INVALID_PATH)
    if all(isinstance(item, str) for item in items):
        return [_url_source(item) for item in items]
    sources = []
    for item in items:
        if isinstance(item, DataPath):
            sources.append(_datastore_source(item.datastore_name, item.path_on_datastore))
        elif isinstance(item, DataReference):
            sources.append(_datastore_source(item.datastore.name, item.path_on_datastore or ""))
        elif isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[0], Datastore) or not isinstance(item[1], str):
                raise UserErrorException(
                    "Invalid tuple for path. Please make sure the tuple consists of a datastore and a path/SQL query"
                )
            sources.append(_datastore_source(item[0].name, item[1]))
        else:
            raise UserErrorException(INVALID_PATH)
    return sources


def _datastore_source(name: str, path: str) -> dict[str, Any]:
    clean = (path or "").strip("/")
    if ".." in clean.split("/"):
        raise UserErrorException(f"Dataset path {path!r} on datastore {name!r}: '..' is not allowed in a path")
    return {"datastore": name, "path": clean}


def url_problem(url: Any) -> str | None:
    """Why ``url`` can not be a dataset's source (any definition, however it was made), or None.

    Only http(s): ``file://`` would read a worker's own files. No credentials in it: a definition is
    stored and shown, and secrets belong in datastores.
    """
    parts = urllib.parse.urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"{url!r} is not an http(s) URL"
    if parts.username or parts.password or "sig=" in parts.query.lower():
        return "a URL source may not hold credentials (user:password@ or a SAS signature); register a datastore"
    return None


def _url_source(text: str) -> dict[str, Any]:
    if text.lower().startswith("file://") or not re.match(r"^[a-z][a-z0-9+.-]*://", text, re.IGNORECASE):
        raise UserErrorException(LOCAL_REFUSED.format(path=text))
    if _STORAGE_URL.match(text):
        raise UserErrorException(
            f"Dataset path {text!r}: amlflow reads Azure storage through datastores, which hold the credentials; "
            "register the account with a Datastore.register_* method and use (datastore, path)"
        )
    if not _URL.match(text) or _BLOB_WITH_SAS.match(text):
        raise UserErrorException(INVALID_PATH)
    if any(char in urllib.parse.urlsplit(text).path for char in "*?"):
        raise UserErrorException(f"Dataset path {text!r}: a URL names one file; globs work on datastore paths only")
    problem = url_problem(text)
    if problem:
        raise UserErrorException(f"Dataset path: {problem}")
    return {"url": text}


def describe_source(source: dict[str, Any]) -> str:
    """A source as Azure ML's dataset ``repr`` shows it: ``('datastore', 'path')``, or the URL or file."""
    if "datastore" in source:
        return f"('{source['datastore']}', '{source['path']}')"
    return source.get("url") or source["local"]


# -- the files of sources ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceFile:
    """One file of a dataset: where it is (``kind``, ``store``, ``location``) and its relative path."""

    kind: str  #: "datastore", "url" or "local"
    store: str | None  #: the datastore name, for kind "datastore"
    location: str  #: the datastore path, the URL or the local file
    relative: str  #: the path ``to_path`` shows (without its leading '/') and downloads recreate
    origin: str = ""  #: the path partition_format reads: the file's path where the dataset was defined

    def in_place(self) -> str | None:
        """A local file that holds this file already (a local datastore, a localized dataset), or None."""
        if self.kind == "local":
            return self.location
        if self.kind == "datastore":
            from amlflow.storage import get_backend

            local = get_backend(self.store).local_path(self.location)
            return local if local and os.path.isfile(local) else None
        return None

    def fetch(self, local_path: str) -> None:
        """Copy the file to ``local_path`` (its folder is made)."""
        os.makedirs(os.path.dirname(os.path.abspath(local_path)), exist_ok=True)
        if self.kind == "datastore":
            from amlflow.storage import get_backend

            get_backend(self.store).download_file(self.location, local_path)
        elif self.kind == "local":
            shutil.copyfile(self.location, local_path)
        else:
            try:
                with (
                    urllib.request.urlopen(self.location, timeout=URL_TIMEOUT) as answer,
                    open(local_path, "wb") as out,
                ):
                    shutil.copyfileobj(answer, out)
            except (urllib.error.URLError, OSError) as error:
                raise DatasetValidationError(f"Cannot read dataset file {self.location}: {error}", error) from None


def resolve(sources: list[dict[str, Any]], ignore_not_found: bool = False) -> list[SourceFile]:
    """Every file the sources name, source by source, each source's files sorted by path.

    A source that names nothing raises ``DatasetValidationError`` naming it (is left out with
    ``ignore_not_found``). Relative paths are taken
    from the folder the source names (for a file or a glob: the folder before its first wildcard), and
    from the folder those share when all sources are on one datastore, as Azure ML's ``to_path`` shows.
    """
    refuse_in_a_parse("read a dataset's files")
    found: list[tuple[str, list[tuple[str, str]]]] = []  # (base, [(location, path under base...)])
    kept: list[dict[str, Any]] = []  # the sources that named files
    for source in sources:
        base, files = _files_of(source)
        if not files and ignore_not_found:
            continue
        if not files:
            raise DatasetValidationError(
                f"Failed to validate the data: no files found at {describe_source(source)}. If data is "
                "inaccessible, please set validate to False."
            )
        found.append((base, files))
        kept.append(source)
    stores = {source.get("datastore") for source in kept}
    shared = None
    if len(kept) > 1 and len(stores) == 1 and None not in stores:
        shared = _common_folder([base for base, _files in found])
    result = []
    for source, (base, files) in zip(kept, found, strict=True):
        kind = next(k for k in ("datastore", "url", "local") if k in source)
        for location, path in files:
            relative = _relative(path, shared) if shared is not None else _relative(path, base)
            origin = source.get("origin") or ("/" + path.lstrip("/") if kind == "datastore" else path)
            result.append(SourceFile(kind, source.get("datastore"), location, relative, origin))
    return result


def refuse_in_a_parse(what: str, instead: str = "do it in a notebook or script, or in a step's script") -> None:
    """Raise if a DAG file is being parsed: nothing a DAG file runs at parse time may reach storage."""
    from amlflow.pipeline.core._source import parsing_dag_file  # the pipeline package builds on this one

    if parsing_dag_file():
        raise UserErrorException(
            f"Can not {what} while Airflow parses a DAG file (nothing a DAG file runs at parse time may reach "
            f"storage): {instead}"
        )


def check_exists(sources: list[dict[str, Any]]) -> None:
    """``validate=True``: every source names at least one readable file, else ``DatasetValidationError``."""
    for source in sources:
        if "url" in source:
            _check_url(source["url"])
            continue
        try:
            resolve([source])
        except DatasetValidationError:
            raise
        except Exception as error:  # an unknown datastore, a SQL datastore, a storage error: say which path
            raise DatasetValidationError(
                f"Failed to validate the data at {describe_source(source)}: {error}. If data is inaccessible, "
                "please set validate to False.",
                error,
            ) from None


def _check_url(url: str) -> None:
    for method in ("HEAD", "GET"):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=URL_TIMEOUT):
                return
        except urllib.error.HTTPError as error:
            if method == "HEAD" and error.code in (403, 405, 501):  # servers that refuse HEAD: ask with GET
                continue
            problem: Exception = error
        except (urllib.error.URLError, OSError) as error:
            problem = error
        raise DatasetValidationError(
            f"Failed to validate the data at {url}: {problem}. If data is inaccessible, please set validate to False.",
            problem,
        )


def _files_of(source: dict[str, Any]) -> tuple[str, list[tuple[str, str]]]:
    """``(base, [(location, path comparable with base)])`` of one source."""
    if "url" in source:
        url = source["url"]
        path = urllib.parse.unquote(urllib.parse.urlsplit(url).path) or "/"
        return posixpath.dirname(path), [(url, path)]
    if "local" in source:
        local = source["local"]
        root = source.get("root") or os.path.dirname(local)
        if os.path.isfile(local):
            return root, [(local, local)]
        files = [os.path.join(d, n) for d, _dirs, names in os.walk(local) for n in names]
        return root, [(f, f) for f in sorted(files)]
    from amlflow.storage import get_backend

    backend = get_backend(source["datastore"])
    path = source["path"]
    if not has_glob(path):
        infos = backend.list_files(path)
        if len(infos) == 1 and infos[0].path == path:
            return posixpath.dirname(path), [(path, path)]
        return path, [(info.path, info.path) for info in infos]
    prefix = listing_prefix(path)
    pattern = glob_regex(path)
    return prefix, [(info.path, info.path) for info in backend.list_files(prefix) if pattern.fullmatch(info.path)]


def listing_prefix(path: str) -> str:
    """What to list to find the files of a datastore path: the folders before its first wildcard, or itself."""
    if not has_glob(path):
        return path
    parts = path.split("/")
    first = next(i for i, part in enumerate(parts) if has_glob(part))
    return "/".join(parts[:first])


def has_glob(path: str) -> bool:
    """Whether ``path`` holds a glob character (``*`` or ``?``)."""
    return "*" in path or "?" in path


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``*`` (within a folder), ``**`` (any folders, or none) and ``?`` (one character) as a regex."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:[^/]+/)*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def _common_folder(bases: list[str]) -> str:
    split = [[part for part in base.split("/") if part] for base in bases]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def _relative(path: str, base: str) -> str:
    if os.sep != "/" and os.path.isabs(path):
        path, base = path.replace(os.sep, "/"), base.replace(os.sep, "/")
    base = base.rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        return path[len(base) :].lstrip("/")
    return path.lstrip("/")
