"""Filter expressions, as ``azureml.dataprep``'s: ``dataset['column']`` and what is built from it.

``dataset['age'] >= 18``, ``(dataset['city'] == 'Oslo') | ~dataset['name'].starts_with('A')``. Supported:
the comparisons ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (between columns and literal values), ``&``,
``|``, ``~`` and the methods ``starts_with``, ``ends_with``, ``contains`` (case-sensitive text matches; a
value that is not text does not match) and ``is_null`` (of Azure ML's ``RecordFieldExpression`` methods;
arithmetic, ``substring``, ``to_upper`` and the others are not offered). Literals are text, numbers,
booleans, None and datetimes. Python's ``and``/``or``/``not`` and chained comparisons cannot be overloaded,
so an expression refuses ``bool()`` and says to use ``&``/``|``/``~``.

An expression is data: ``to_json()`` gives the JSON-able form a definition's ``{"filter": ...}`` transform
holds (``{"col": name}``, ``{"value": v}``, ``{"datetime": iso}``, ``{"op": name, "args": [...]}``), and
``evaluate`` applies that form to a pandas DataFrame when the data is read. As Azure ML, a record whose
comparison meets a null is not kept (``!=`` included), except by ``is_null``.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from amlflow.data.dataset_error_handling import DatasetExecutionError, DatasetValidationError
from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    import pandas

COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
LOGICAL = ("and", "or", "not")
TEXT_MATCHES = ("starts_with", "ends_with", "contains")
OPERATORS = COMPARISONS + LOGICAL + TEXT_MATCHES + ("is_null",)
_ARITY = {**dict.fromkeys(COMPARISONS, 2), **dict.fromkeys(TEXT_MATCHES, 2), "not": 1, "is_null": 1}


class Expression:
    """An expression over a record's columns. Made from ``dataset['column']``, never directly."""

    def to_json(self) -> dict[str, Any]:
        """The expression's JSON form (what a ``filter`` transform holds)."""
        raise NotImplementedError

    def columns(self) -> set[str]:
        """The columns the expression reads."""
        return columns_of(self.to_json())

    def __repr__(self) -> str:
        return describe(self.to_json())

    def __bool__(self) -> bool:
        raise UserErrorException(
            f"The expression {self!r} has no truth value: combine conditions with & (and), | (or), ~ (not), "
            "with parentheses around each comparison, and compare one pair at a time"
        )

    # -- comparisons -------------------------------------------------------------------------------
    def __eq__(self, other: object) -> Expression:  # type: ignore[override]
        return _Node("==", [self, _operand("==", other)])

    def __ne__(self, other: object) -> Expression:  # type: ignore[override]
        return _Node("!=", [self, _operand("!=", other)])

    def __lt__(self, other: Any) -> Expression:
        return _Node("<", [self, _operand("<", other)])

    def __le__(self, other: Any) -> Expression:
        return _Node("<=", [self, _operand("<=", other)])

    def __gt__(self, other: Any) -> Expression:
        return _Node(">", [self, _operand(">", other)])

    def __ge__(self, other: Any) -> Expression:
        return _Node(">=", [self, _operand(">=", other)])

    __hash__ = object.__hash__

    # -- logic -------------------------------------------------------------------------------------
    def __and__(self, other: Any) -> Expression:
        return _Node("and", [self, _condition("&", other)])

    def __rand__(self, other: Any) -> Expression:
        return _Node("and", [_condition("&", other), self])

    def __or__(self, other: Any) -> Expression:
        return _Node("or", [self, _condition("|", other)])

    def __ror__(self, other: Any) -> Expression:
        return _Node("or", [_condition("|", other), self])

    def __invert__(self) -> Expression:
        return _Node("not", [self])

    # -- methods (Azure ML's names) ------------------------------------------------------------------
    def starts_with(self, value: str) -> Expression:
        """True where the value is text starting with ``value`` (case-sensitive)."""
        return _Node("starts_with", [self, _text("starts_with", value)])

    def ends_with(self, value: str) -> Expression:
        """True where the value is text ending with ``value`` (case-sensitive)."""
        return _Node("ends_with", [self, _text("ends_with", value)])

    def contains(self, value: str) -> Expression:
        """True where the value is text containing ``value`` (case-sensitive)."""
        return _Node("contains", [self, _text("contains", value)])

    def is_null(self) -> Expression:
        """True where the value is null (missing, None, NaN)."""
        return _Node("is_null", [self])


class RecordFieldExpression(Expression):
    """``dataset['column']``: the value of one column of each record (Azure ML's name for it)."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise UserErrorException(f"A column is named by a non-empty string, not {name!r}")
        self.name = name

    def to_json(self) -> dict[str, Any]:
        """The column's JSON form: ``{"col": name}``."""
        return {"col": self.name}


class _Literal(Expression):
    def __init__(self, value: Any) -> None:
        self.value = value

    def to_json(self) -> dict[str, Any]:
        if isinstance(self.value, datetime.datetime | datetime.date):
            return {"datetime": self.value.isoformat()}
        return {"value": self.value}


class _Node(Expression):
    def __init__(self, op: str, args: list[Expression]) -> None:
        self.op = op
        self.args = args

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "args": [arg.to_json() for arg in self.args]}


def col(name: str) -> RecordFieldExpression:
    """The column ``name`` (as ``azureml.dataprep.col``): the same as ``dataset[name]``."""
    return RecordFieldExpression(name)


def _literal_ok(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float | datetime.datetime | datetime.date)


def _operand(op: str, other: Any) -> Expression:
    if isinstance(other, Expression):
        return other
    if not _literal_ok(other):
        raise UserErrorException(
            f"Operator {op}: cannot compare with {type(other).__name__} {other!r}; compare with a column, text, "
            "a number, a boolean, None or a datetime"
        )
    return _Literal(other)


def _condition(op: str, other: Any) -> Expression:
    if not isinstance(other, Expression):
        raise UserErrorException(
            f"Operator {op} combines expressions (built from dataset['column']), not {type(other).__name__} {other!r}"
        )
    return other


def _text(op: str, value: Any) -> Expression:
    if not isinstance(value, str):
        raise UserErrorException(f"{op}: the value must be text, not {type(value).__name__} {value!r}")
    return _Literal(value)


# -- the JSON form ---------------------------------------------------------------------------------
def expression_json(expression: Any, method: str) -> dict[str, Any]:
    """The JSON form a ``filter`` transform holds, or a ``UserErrorException`` saying why ``expression`` is none."""
    if not isinstance(expression, Expression):
        raise UserErrorException(
            f"{method}: the expression must be built from dataset['column'] (for example "
            f"dataset['age'] > 18), not {type(expression).__name__} {expression!r}"
        )
    if isinstance(expression, _Literal):
        raise UserErrorException(f"{method}: the expression {expression!r} is a value, not a condition")
    data = expression.to_json()
    check_json(data)
    return data


def check_json(data: Any) -> None:
    """A ``UserErrorException`` naming what is wrong with an expression's JSON form (one from a YAML file)."""
    if not isinstance(data, dict) or len(data) not in (1, 2):
        raise UserErrorException(f"Dataset filter: {data!r} is not an expression")
    if "col" in data and len(data) == 1:
        if not isinstance(data["col"], str) or not data["col"]:
            raise UserErrorException(f"Dataset filter: column name {data['col']!r} is not a name")
        return
    if "value" in data and len(data) == 1:
        if not _literal_ok(data["value"]) or isinstance(data["value"], datetime.date):
            raise UserErrorException(f"Dataset filter: {data['value']!r} is not a JSON value")
        return
    if "datetime" in data and len(data) == 1:
        try:
            datetime.datetime.fromisoformat(data["datetime"])
        except (TypeError, ValueError):
            raise UserErrorException(f"Dataset filter: {data['datetime']!r} is not an ISO datetime") from None
        return
    op, args = data.get("op"), data.get("args")
    if op not in OPERATORS or not isinstance(args, list):
        raise UserErrorException(f"Dataset filter: operator {op!r} is not one of {', '.join(OPERATORS)}")
    if (op in _ARITY and len(args) != _ARITY[op]) or (op in ("and", "or") and len(args) < 2):
        raise UserErrorException(f"Dataset filter: operator {op!r} has {len(args)} operands")
    for arg in args:
        check_json(arg)


def columns_of(data: dict[str, Any]) -> set[str]:
    """The columns an expression's JSON form reads."""
    if "col" in data:
        return {data["col"]}
    return set().union(*(columns_of(arg) for arg in data.get("args", [])))


def describe(data: dict[str, Any]) -> str:
    """The expression as Python-like text (for messages and ``repr``)."""
    if "col" in data:
        return f"[{data['col']!r}]"
    if "value" in data:
        return repr(data["value"])
    if "datetime" in data:
        return f"datetime({data['datetime']!r})"
    op, args = data["op"], [describe(arg) for arg in data["args"]]
    if op in COMPARISONS:
        return f"({args[0]} {op} {args[1]})"
    if op in ("and", "or"):
        return "(" + f" {'&' if op == 'and' else '|'} ".join(args) + ")"
    if op == "not":
        return f"~{args[0]}"
    return f"{args[0]}.{op}({', '.join(args[1:])})"


# -- evaluation ------------------------------------------------------------------------------------
def evaluate(data: dict[str, Any], frame: pandas.DataFrame) -> pandas.Series:
    """The rows of ``frame`` the expression keeps, as a boolean Series aligned with it."""
    missing = sorted(columns_of(data) - {str(column) for column in frame.columns})
    if missing:
        raise DatasetValidationError(
            f"Dataset filter {describe(data)}: the columns {missing} do not exist in the current dataset "
            f"(its columns: {[str(c) for c in frame.columns]})"
        )
    return _condition_value(data, frame)


def _value(data: dict[str, Any], frame: pandas.DataFrame) -> Any:
    import pandas as pd

    if "col" in data:
        return frame[data["col"]]
    if "value" in data:
        return data["value"]
    if "datetime" in data:
        return pd.Timestamp(datetime.datetime.fromisoformat(data["datetime"]))
    op = data["op"]
    if op in ("and", "or", "not"):
        parts = [_condition_value(arg, frame) for arg in data["args"]]
        if op == "not":
            return ~parts[0]
        combined = parts[0]
        for part in parts[1:]:
            combined = combined & part if op == "and" else combined | part
        return combined
    args = [_value(arg, frame) for arg in data["args"]]
    if op == "is_null":
        if not isinstance(args[0], pd.Series):
            return _series(args[0] is None, frame)
        return pd.Series(pd.isna(args[0]), index=frame.index, dtype=bool)
    if op in TEXT_MATCHES:
        return _text_match(op, args[0], args[1], frame)
    return _compare(data, args[0], args[1], frame)


def _condition_value(data: dict[str, Any], frame: pandas.DataFrame) -> pandas.Series:
    """``data`` as a condition: a comparison's result, or for a bare column or value, where it is true."""
    import pandas as pd

    value = _value(data, frame)
    if "op" in data:
        return value
    if not isinstance(value, pd.Series):
        return _series(value is True, frame)
    import numpy

    return value.map(lambda v: isinstance(v, bool | numpy.bool_) and bool(v)).astype(bool)


def _series(value: bool, frame: pandas.DataFrame) -> pandas.Series:
    import pandas as pd

    return pd.Series([value] * len(frame), index=frame.index, dtype=bool)


def _text_match(op: str, values: Any, text: str, frame: pandas.DataFrame) -> pandas.Series:
    import pandas as pd

    def test(value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if op == "starts_with":
            return value.startswith(text)
        if op == "ends_with":
            return value.endswith(text)
        return text in value

    if not isinstance(values, pd.Series):
        return _series(test(values), frame)
    return values.map(test).astype(bool)


def _compare(data: dict[str, Any], left: Any, right: Any, frame: pandas.DataFrame) -> pandas.Series:
    import operator

    import pandas as pd

    op = data["op"]
    function = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
                ">=": operator.ge}[op]  # fmt: skip
    if left is None or right is None:  # as Azure ML: a comparison with null is not true
        return _series(False, frame)
    if not isinstance(left, pd.Series) and not isinstance(right, pd.Series):
        return _series(bool(function(left, right)), frame)
    present = pd.Series(True, index=frame.index)
    for value in (left, right):
        if isinstance(value, pd.Series):
            present &= ~pd.Series(pd.isna(value), index=frame.index, dtype=bool)
    result = _series(False, frame)
    if not present.any():
        return result
    try:
        compared = function(*(_aligned(v[present]) if isinstance(v, pd.Series) else v for v in (left, right)))
    except TypeError as error:
        raise DatasetExecutionError(
            f"Dataset filter: operator {op} cannot compare {describe(data['args'][0])} with "
            f"{describe(data['args'][1])} (columns {sorted(columns_of(data))}): {error}",
            error,
        ) from None
    result[present] = pd.Series(compared, index=present[present].index).fillna(False).astype(bool)
    return result


def _aligned(value: Any) -> Any:
    """A column as comparisons want it: object columns of datetimes as datetimes, the rest as they are."""
    import pandas as pd

    if isinstance(value, pd.Series) and value.dtype == object:
        present = value.dropna()
        if len(present) and all(isinstance(v, datetime.datetime) for v in present):
            return pd.to_datetime(value)
    return value
