"""Errors amlflow raises, named as Azure ML names them where a ported pipeline catches them."""

from __future__ import annotations

from typing import Any


class AmlflowError(Exception):
    """Base class of every error amlflow raises on purpose."""

    @property
    def message(self) -> str:
        """The error's text (``AzureMLException.message``)."""
        return self.__dict__.get("_message", str(self))

    @message.setter
    def message(self, value: str) -> None:  # ErrorResponseException sets its own (the server's message)
        self.__dict__["_message"] = value


class UserErrorException(AmlflowError, ValueError):
    """A definition or call is wrong; the message says what and where (as ``azureml.exceptions``)."""


class ValidationProblem(str):
    """One rule a pipeline breaks: the line ``validate()`` returns (a ``str``, as in Azure ML), which also
    says where, as data: the ``step``, its ``field``, the ``item`` of that field (a data or port name) and the
    bare ``message``. The YAML and folder loaders place a problem from these, never from its text."""

    step: str | None
    field: str | None
    item: str | None
    message: str

    def __new__(
        cls, message: str, step: str | None = None, field: str | None = None, item: str | None = None
    ) -> ValidationProblem:
        """A problem whose text is ``message`` prefixed with its step and field, when it has a step."""
        text = f"step {step!r}, field {field!r}: {message}" if step is not None else message
        problem = super().__new__(cls, text)
        problem.step, problem.field, problem.item, problem.message = step, field, item, message
        return problem

    def __reduce__(self) -> tuple:
        return ValidationProblem, (self.message, self.step, self.field, self.item)


class WebserviceException(UserErrorException):
    """A model call failed (as ``azureml.exceptions.WebserviceException``): the message says why."""

    def __init__(self, exception_message: str, status_code: int | None = None, **kwargs: Any) -> None:
        super().__init__(exception_message)
        self.status_code = status_code


class ModelNotFoundException(UserErrorException):
    """No registered (or downloaded) model has that name and version (as ``azureml.exceptions``)."""

    def __init__(self, exception_message: str, **kwargs: Any) -> None:
        super().__init__(exception_message)


class PipelineValidationError(UserErrorException):
    """A pipeline definition breaks a rule; ``errors`` lists every broken rule, one ``ValidationProblem`` each."""

    def __init__(self, errors: list[str], source: str | None = None) -> None:
        self.errors = [e if isinstance(e, ValidationProblem) else ValidationProblem(e) for e in errors]
        self.source = source
        where = f"{source}: " if source else ""
        super().__init__(where + "; ".join(self.errors))


class ComputeTargetException(AmlflowError):
    """A compute target is unknown or cannot be created (as ``azureml.exceptions``)."""


class DatastoreError(AmlflowError):
    """A datastore operation failed; the message names the datastore and the path, never a credential."""


class StepFailedError(AmlflowError):
    """A step's script or remote job ended in failure."""


class StepInterruptedError(AmlflowError):
    """The task was told to stop (SIGTERM) while its step ran: not the step's failure, so it is retried."""


class SnapshotException(AmlflowError):
    """A step's source directory can not be snapshotted (too large, too many files), as ``azureml.exceptions``."""


class ActivityFailedException(AmlflowError):
    """A waited-for run failed (as ``azureml.exceptions``)."""


class AuthenticationException(AmlflowError):
    """No token could be had for the Airflow API (as ``azureml.exceptions``); never shows a secret."""


class ErrorResponseException(AmlflowError):
    """The Airflow API or the amlflow endpoint answered with an error (as Azure ML's REST client raises)."""

    def __init__(self, status_code: int, message: str) -> None:
        self.status_code = status_code
        self.message = message
        super().__init__(f"HTTP {status_code}: {message}")
