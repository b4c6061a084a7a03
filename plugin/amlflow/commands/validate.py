"""Check pipeline definitions (YAML, AML-style Python modules, or folders of them); one line per error.

``amlflow validate PATH...`` builds each definition as the loader would and prints every problem as
``file:line:column: step.field: message``. Exit code 0 if there is none, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys

from amlflow.factory.yaml_errors import DefinitionError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``amlflow validate``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a .yaml/.yml/.py definition or a folder of them")


def definitions(path: str) -> list[str] | DefinitionError:
    """The definition files ``path`` names, or why it names none."""
    from amlflow.factory.folder_loader import DEFINITION_SUFFIXES, definition_files

    if os.path.isdir(path):
        return definition_files(path)
    if not os.path.isfile(path):
        return DefinitionError(path, 1, 1, "pipeline", "no such file or folder")
    if not path.endswith(DEFINITION_SUFFIXES):
        return DefinitionError(path, 1, 1, "pipeline", f"not a definition (use {', '.join(DEFINITION_SUFFIXES)})")
    return [path]


def run(args: argparse.Namespace) -> int:
    """Load every definition under the paths and print their errors; exit status 1 if there are any."""
    from amlflow.factory.folder_loader import load_file

    errors: list[DefinitionError] = []
    checked = 0
    for path in args.paths:
        files = definitions(path)
        if isinstance(files, DefinitionError):
            errors.append(files)
            continue
        for file in files:
            checked += 1
            display = os.path.join(path, os.path.basename(file)) if os.path.isdir(path) else path
            errors.extend(load_file(file, display)[1])
    for error in errors:
        print(error)
    print(f"{checked} definition(s) checked, {len(errors)} error(s)", file=sys.stderr)
    return 1 if errors else 0
