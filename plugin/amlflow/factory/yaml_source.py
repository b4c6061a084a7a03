"""A YAML file read with its node tree kept, so any value can be traced back to its line and column.

libyaml (``CSafeLoader``) parses; the node marks give positions. Only safe YAML: plain mappings,
lists and scalars, never Python objects.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml

from amlflow.factory.yaml_errors import DefinitionError

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

#: a path into the document: mapping keys and list indexes
Path = Sequence[str | int]


class YamlDocument:
    """The data of one YAML file and where each part of it was written."""

    def __init__(self, file: str, data: Any, text: str, root: yaml.Node | None = None) -> None:
        self.file = file
        self.data = data
        self.text = text
        self._root = root

    @property
    def root(self) -> yaml.Node | None:
        """The node tree; composed again from the text when the data came from elsewhere (a cache)."""
        if self._root is None and self.text:
            loader = _Loader(self.text)
            try:
                self._root = loader.get_single_node()
            finally:
                loader.dispose()
        return self._root

    @staticmethod
    def read_text(path: str, display: str | None = None) -> tuple[str | None, list[DefinitionError]]:
        """The text of the file at ``path``, or None and the error (placed at ``display``) if it cannot be read."""
        try:
            with open(path, encoding="utf-8") as handle:
                return handle.read(), []
        except (OSError, UnicodeDecodeError) as exc:
            return None, [DefinitionError(display or path, 1, 1, "pipeline", f"can not read the file: {exc}")]

    @classmethod
    def read(cls, path: str, display: str | None = None) -> tuple[YamlDocument | None, list[DefinitionError]]:
        """The document at ``path``, or None and the errors that stop it from being read."""
        text, errors = cls.read_text(path, display)
        return cls.parse(text, display or path) if text is not None else (None, errors)

    @classmethod
    def parse(cls, text: str, display: str) -> tuple[YamlDocument | None, list[DefinitionError]]:
        """The document in ``text`` (named ``display`` in errors), or None and why it is not YAML."""
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            problem = " ".join(p for p in (exc.context, exc.problem) if p)
            return None, [DefinitionError(display, line, column, "pipeline", f"invalid YAML: {problem}")]
        except yaml.YAMLError as exc:
            return None, [DefinitionError(display, 1, 1, "pipeline", f"invalid YAML: {exc}")]
        finally:
            loader.dispose()
        document = cls(display, data, text, root)
        return document, list(document._duplicate_keys())

    def node(self, path: Path, *, key: bool = False) -> yaml.Node | None:
        """The node at ``path`` (the key's node if ``key``); the deepest existing node on the way if absent."""
        node = self.root
        for i, step in enumerate(path):
            found = None
            if isinstance(node, yaml.MappingNode):
                for key_node, value_node in node.value:
                    if key_node.value == step or (isinstance(step, int) and key_node.value == str(step)):
                        found = key_node if key and i == len(path) - 1 else value_node
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                found = node.value[step]
            if found is None:
                return node
            node = found
        return node

    def error(self, path: Path, where: str, message: str, *, key: bool = False) -> DefinitionError:
        """An error located at ``path`` (1-based line and column, as editors count)."""
        node = self.node(path, key=key)
        if node is None:
            return DefinitionError(self.file, 1, 1, where, message)
        return DefinitionError(self.file, node.start_mark.line + 1, node.start_mark.column + 1, where, message)

    def _duplicate_keys(self) -> Iterator[DefinitionError]:
        """YAML keeps the last of two equal keys silently; a definition with one is ambiguous."""
        stack = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            if isinstance(node, yaml.MappingNode):
                seen: set[str] = set()
                for key_node, value_node in node.value:
                    if isinstance(key_node, yaml.ScalarNode):
                        if key_node.value in seen:
                            mark = key_node.start_mark
                            yield DefinitionError(
                                self.file,
                                mark.line + 1,
                                mark.column + 1,
                                str(key_node.value),
                                f"key {key_node.value!r} appears twice in the same mapping",
                            )
                        seen.add(key_node.value)
                    stack.append(value_node)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(node.value)
