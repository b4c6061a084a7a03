"""A definition's ``transforms``, applied in order: to the file list of a FileDataset, to the rows (and
columns) of a TabularDataset.

``{"take": n}``, ``{"skip": n}``, ``{"take_sample": {"probability": p, "seed": s}}``, ``{"random_split":
{"percentage": p, "seed": s, "part": 0|1}}``, and for tables ``{"keep_columns": [...]}`` and
``{"drop_columns": [...]}``; ``{"filter": expression}`` (the JSON form of
``amlflow.data.dataset_expressions``: rows of a table, files of a FileDataset by their ``Path`` and
partition columns). Random transforms always hold their seed (drawn when the caller gave none), so a
definition gives the same data wherever it is read, and the two parts of a split are complements.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from amlflow.data.dataset_error_handling import DatasetValidationError
from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    import pandas

T = TypeVar("T")
ROW_TRANSFORMS = ("take", "skip", "take_sample", "random_split")
COLUMN_TRANSFORMS = ("keep_columns", "drop_columns")


def count_transform(name: str, count: Any) -> dict[str, Any]:
    """The transform ``{name: count}`` (``skip``, ``take``...), once ``count`` is checked."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise UserErrorException(f"{name}: count must be a non-negative integer, not {count!r}")
    return {name: count}


def sample_transform(probability: Any, seed: Any) -> dict[str, Any]:
    """The ``take_sample`` transform, once its probability and seed are checked."""
    if not isinstance(probability, int | float) or not 0.0 <= probability <= 1.0:
        raise UserErrorException(f"take_sample: probability must be a number between 0.0 and 1.0, not {probability!r}")
    return {"take_sample": {"probability": float(probability), "seed": _seed(seed)}}


def split_transforms(percentage: Any, seed: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two ``random_split`` transforms (parts 0 and 1) of one split, sharing its seed."""
    if not isinstance(percentage, int | float) or not 0.0 <= percentage <= 1.0:
        raise UserErrorException(f"random_split: percentage must be a number between 0.0 and 1.0, not {percentage!r}")
    seed = _seed(seed)
    return tuple(  # type: ignore[return-value]
        {"random_split": {"percentage": float(percentage), "seed": seed, "part": part}} for part in (0, 1)
    )


def _seed(seed: Any) -> int:
    if seed is None:
        # Drawn once, here, and kept in the definition: the data must not change where it is read.
        return random.SystemRandom().randrange(2**31)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserErrorException(f"seed must be an integer, not {seed!r}")
    return seed


def _draws(seed: int, count: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(count)]


def apply_to_list(
    items: list[T],
    transforms: list[dict[str, Any]],
    columns_of: Callable[[list[T]], pandas.DataFrame] | None = None,
) -> list[T]:
    """The files a FileDataset's transforms keep, in order (``columns_of`` gives the columns a filter reads)."""
    for transform in transforms:
        ((name, arg),) = transform.items()
        if name == "filter" and columns_of is not None:
            from amlflow.data.dataset_expressions import evaluate

            keep = evaluate(arg, columns_of(items)).tolist() if items else []
            items = [item for item, kept in zip(items, keep, strict=True) if kept]
        elif name == "take":
            items = items[:arg]
        elif name == "skip":
            items = items[arg:]
        elif name == "take_sample":
            draws = _draws(arg["seed"], len(items))
            items = [item for item, draw in zip(items, draws, strict=True) if draw < arg["probability"]]
        elif name == "random_split":
            draws = _draws(arg["seed"], len(items))
            first = arg["part"] == 0
            items = [item for item, d in zip(items, draws, strict=True) if (d < arg["percentage"]) == first]
        else:
            raise UserErrorException(f"Dataset definition: transform {name!r} does not apply to a FileDataset")
    return items


def apply_to_frame(frame: pandas.DataFrame, transforms: list[dict[str, Any]]) -> pandas.DataFrame:
    """The rows and columns a TabularDataset's transforms keep, in order."""
    for transform in transforms:
        ((name, arg),) = transform.items()
        if name in ROW_TRANSFORMS:
            positions = apply_to_list(list(range(len(frame))), [transform])
            frame = frame.iloc[positions]
        elif name == "keep_columns":
            missing = [column for column in arg if column not in frame.columns]
            if missing:
                raise DatasetValidationError(f"The specified columns {missing} do not exist in the current dataset.")
            frame = frame[list(arg)]
        elif name == "drop_columns":
            frame = frame.drop(columns=[column for column in arg if column in frame.columns])
        elif name == "filter":
            from amlflow.data.dataset_expressions import evaluate

            frame = frame[evaluate(arg, frame).to_numpy()]
        else:
            raise UserErrorException(f"Dataset definition: transform {name!r} is not one amlflow knows")
    return frame.reset_index(drop=True)


def column_list(name: str, columns: Any) -> list[str]:
    """``columns`` (one name or a list) as a list of names; ``UserErrorException`` naming the transform otherwise."""
    columns = [columns] if isinstance(columns, str) else columns
    if not isinstance(columns, list | tuple) or not all(isinstance(c, str) for c in columns):
        raise UserErrorException(f"{name}: columns must be a column name or a list of column names, not {columns!r}")
    return list(columns)
