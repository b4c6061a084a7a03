"""Errors in a pipeline definition, each with the place it was written: file, line, column, step and field."""

from __future__ import annotations

from dataclasses import dataclass

from amlflow.exceptions import UserErrorException


@dataclass(frozen=True, order=True)
class DefinitionError:
    """One broken rule. ``where`` is ``step.field`` inside a step, else the path of the field."""

    file: str
    line: int
    column: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.where}: {self.message}"


class PipelineDefinitionError(UserErrorException):
    """A definition (or several) can not become a pipeline; ``errors`` lists every problem, one line each."""

    def __init__(self, errors: list[DefinitionError]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        header = f"{count} error{'s' if count != 1 else ''} in pipeline definitions:"
        super().__init__("\n".join([header, *(str(e) for e in self.errors)]))
