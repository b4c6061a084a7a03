"""The manifest that marks a step output complete: its files, their sizes and content hashes.

It is written last, after every file of the output, so its presence is the commit. Readers (downstream
steps, reuse) look for it first and treat an output without one as never written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

MANIFEST_SUFFIX = ".manifest.json"


def sha256_file(local_path: str, chunk: int = 1 << 20) -> str:
    """The SHA-256 hex digest of a local file, read ``chunk`` bytes at a time."""
    digest = hashlib.sha256()
    with open(local_path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Manifest:
    """Files of one committed output, relative to its folder, with ``size`` and ``sha256`` (or ``tag``) each."""

    files: list[dict] = field(default_factory=list)

    @staticmethod
    def path_for(output_path: str) -> str:
        """Where the manifest of the output at ``output_path`` is stored."""
        return output_path.rstrip("/") + MANIFEST_SUFFIX

    @classmethod
    def of_folder(cls, local_dir: str) -> Manifest:
        """The manifest of every file under a local folder: relative path, size and SHA-256, sorted by path."""
        entries = []
        for root, _dirs, names in os.walk(local_dir):
            for name in names:
                full = os.path.join(root, name)
                rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
                entries.append({"path": rel, "size": os.path.getsize(full), "sha256": sha256_file(full)})
        return cls(sorted(entries, key=lambda e: e["path"]))

    @classmethod
    def of_stored(cls, base: str, files: Iterable[tuple[str, int, str]]) -> Manifest:
        """A manifest of files already on a datastore under ``base`` (``(path, size, tag)``, e.g. FileInfo).

        For data written in place by a remote service or a server-side copy, whose bytes never pass
        through this machine: each file's content tag (sha256 on a local datastore, MD5 or ETag on blob)
        stands where ``of_folder`` puts a sha256.
        """
        prefix = base.strip("/")
        entries = []
        for path, size, tag in files:
            rel = path[len(prefix) :].lstrip("/") if path != prefix else path.rsplit("/", 1)[-1]
            entries.append({"path": rel, "size": size, "tag": tag})
        return cls(sorted(entries, key=lambda e: e["path"]))

    @property
    def total_size(self) -> int:
        """The bytes of all the files."""
        return sum(e["size"] for e in self.files)

    @property
    def fingerprint(self) -> str:
        """One hash for the whole output: equal fingerprints mean equal file names and contents."""
        canonical = json.dumps([[e["path"], e["size"], e.get("sha256") or e["tag"]] for e in self.files])
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> bytes:
        """The manifest file's content: files, total size and fingerprint."""
        body = {"files": self.files, "total_size": self.total_size, "fingerprint": self.fingerprint}
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        """The manifest a manifest file holds."""
        return cls(json.loads(data)["files"])
