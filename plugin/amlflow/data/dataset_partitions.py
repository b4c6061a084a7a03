"""``partition_format``: columns taken from the files' paths, as Azure ML's ``from_*_files`` offer.

``'/{Department}/{PartitionDate:yyyy/MM/dd}/data.jsonl'`` read against ``.../Accounts/2019/01/01/data.jsonl``
gives a string column ``Department`` = ``Accounts`` and a datetime column ``PartitionDate`` = 2019-01-01.
The format is matched against the end of each file's path, starting at the last folder boundary where it
fits (Azure ML: the format runs from the first key to the end of the path); ``*`` matches anything,
``{{``/``}}`` are literal braces. At most one datetime column, which needs ``yyyy``; its parts are yyyy,
MM, dd, HH, mm, ss.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

from amlflow.exceptions import UserErrorException

#: Azure ML's datetime parts: how many digits each has, and which datetime field it fills.
DATE_PARTS = {"yyyy": (4, "year"), "MM": (2, "month"), "dd": (2, "day"), "HH": (2, "hour"), "mm": (2, "minute"),
              "ss": (2, "second")}  # fmt: skip
_KEY = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class PartitionFormat:
    """A parsed ``partition_format``: ``pattern`` (matched at a path's end), its ``keys`` in column order."""

    text: str
    pattern: re.Pattern[str]
    keys: tuple[str, ...]
    date_key: str | None

    def _match_at_the_end(self, path: str) -> re.Match[str] | None:
        # The latest folder boundary where the format fits: "/{region}/*.csv" against "t/north/a.csv" is
        # region "north", where a search from the left would take "t".
        boundaries = {0} | {i for i, c in enumerate(path) if c == "/"} | {i + 1 for i, c in enumerate(path) if c == "/"}
        for start in sorted(boundaries, reverse=True):
            found = self.pattern.match(path, start)
            if found is not None:
                return found
        return None

    def values(self, path: str) -> dict[str, object] | None:
        """The partition columns of the file at ``path``, or None if the path does not fit the format."""
        found = self._match_at_the_end(path.replace("\\", "/"))
        if found is None:
            return None
        groups = found.groupdict()
        values: dict[str, object] = {key: groups[_group(key)] for key in self.keys if key != self.date_key}
        if self.date_key is not None:
            fields = {"month": 1, "day": 1, "hour": 0, "minute": 0, "second": 0}
            for part, (_digits, name) in DATE_PARTS.items():
                if groups.get(f"_date_{part}") is not None:
                    fields[name] = int(groups[f"_date_{part}"])
            try:
                values[self.date_key] = datetime.datetime(**fields)  # type: ignore[arg-type]
            except ValueError:
                values[self.date_key] = None  # as Azure ML's on_error='null'
        return values


def parse_partition_format(text: str) -> PartitionFormat:
    """``text`` parsed, or a ``UserErrorException`` saying what is wrong with it (Azure ML's rules)."""
    if not isinstance(text, str) or not text:
        raise UserErrorException(f"Invalid partition_format {text!r}: it must be a non-empty string")
    keys: list[str] = []
    date_key: str | None = None
    regex: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith(("{{", "}}"), i):
            regex.append(re.escape(text[i]))
            i += 2
            continue
        char = text[i]
        if char == "}":
            _invalid(text, "Brackets must be in pairs and cannot be nested")
        if char == "{":
            close = text.find("}", i)
            if close < 0 or "{" in text[i + 1 : close]:
                _invalid(text, "Brackets must be in pairs and cannot be nested")
            key = text[i + 1 : close]
            name, _, date_format = key.partition(":")
            if not name.isidentifier():
                _invalid(text, f"Column name {name!r} is not a name" if name else "Column name is not specified.")
            if ":" in key:
                if date_key is not None:
                    _invalid(text, "There cannot be more than one date part.")
                if not date_format:
                    _invalid(text, "Date format is not specified.")
                if "yyyy" not in date_format:
                    _invalid(text, "Format 'yyyy' must be defined for datetime column.")
                date_key = name
                regex.append(_date_regex(date_format))
            elif name in keys:
                regex.append(f"(?P={_group(name)})")  # the same key again must have the same value
            else:
                regex.append(f"(?P<{_group(name)}>[^./\\\\]+)")
            if name not in keys:
                keys.append(name)
            i = close + 1
            continue
        regex.append(".*?" if char == "*" else re.escape(char))
        i += 1
    if not keys:
        _invalid(text, "There must be at least one {column_name}")
    if date_key is not None:  # Azure ML puts the datetime column last
        keys = [key for key in keys if key != date_key] + [date_key]
    return PartitionFormat(text, re.compile("".join(regex) + "$"), tuple(keys), date_key)


def _date_regex(date_format: str) -> str:
    out, i, seen = [], 0, set()
    while i < len(date_format):
        part = next((p for p in DATE_PARTS if date_format.startswith(p, i)), None)
        if part is None:
            out.append(re.escape(date_format[i]))
            i += 1
            continue
        digits = DATE_PARTS[part][0]
        out.append(f"\\d{{{digits}}}" if part in seen else f"(?P<_date_{part}>\\d{{{digits}}})")
        seen.add(part)
        i += len(part)
    return "".join(out)


def _group(key: str) -> str:
    return f"k_{key}"


def _invalid(text: str, problem: str) -> None:
    raise UserErrorException(f'Invalid partition_format "{text}". {problem}')
