"""Dataset errors, at ``azureml.data.dataset_error_handling``'s names, so ported ``except`` clauses still match."""

from __future__ import annotations

from amlflow.exceptions import UserErrorException


class DatasetValidationError(UserErrorException):
    """The data of a dataset could not be validated: missing files, unreadable URLs, unknown columns."""

    def __init__(self, message: str, exception: BaseException | None = None) -> None:
        self.inner_exception = exception
        super().__init__(message)


class DatasetExecutionError(UserErrorException):
    """Reading a dataset's data failed (a file that does not parse, a conversion that cannot apply)."""

    def __init__(self, message: str, exception: BaseException | None = None) -> None:
        self.inner_exception = exception
        super().__init__(message)
