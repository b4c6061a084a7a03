"""The manifest that marks a step output complete: its files, their sizes and content hashes.

It is written last, after every file of the output, so its presence is the commit. Readers (downstream
steps, reuse) look for it first and treat an output without one as never written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

MANIFEST_SUFFIX = ".manifest.json"


def sha256_file(local_path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(local_path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Manifest:
    """Files of one committed output, relative to its folder, with ``size`` and ``sha256`` each."""

    files: list[dict] = field(default_factory=list)

    @staticmethod
    def path_for(output_path: str) -> str:
        return output_path.rstrip("/") + MANIFEST_SUFFIX

    @classmethod
    def of_folder(cls, local_dir: str) -> Manifest:
        entries = []
        for root, _dirs, names in os.walk(local_dir):
            for name in names:
                full = os.path.join(root, name)
                rel = os.path.relpath(full, local_dir).replace(os.sep, "/")
                entries.append({"path": rel, "size": os.path.getsize(full), "sha256": sha256_file(full)})
        return cls(sorted(entries, key=lambda e: e["path"]))

    @property
    def total_size(self) -> int:
        return sum(e["size"] for e in self.files)

    @property
    def fingerprint(self) -> str:
        """One hash for the whole output: equal fingerprints mean equal file names and contents."""
        canonical = json.dumps([[e["path"], e["size"], e["sha256"]] for e in self.files])
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> bytes:
        body = {"files": self.files, "total_size": self.total_size, "fingerprint": self.fingerprint}
        return json.dumps(body, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        return cls(json.loads(data)["files"])
