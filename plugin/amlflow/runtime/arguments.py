"""Arguments and environment of a step's script, as Azure ML gives them."""

from __future__ import annotations

from typing import Any


def resolve_argv(arguments: list[Any], inputs: dict[str, str], outputs: dict[str, str]) -> list[str]:
    """The argv list: data specs become local paths; everything else is already a rendered string."""
    argv = []
    for arg in arguments:
        if isinstance(arg, dict) and "input" in arg:
            argv.append(inputs[arg["input"]])
        elif isinstance(arg, dict) and "output" in arg:
            argv.append(outputs[arg["output"]])
        else:
            argv.append(str(arg))
    return argv


def data_environment(inputs: dict[str, str], outputs: dict[str, str]) -> dict[str, str]:
    """``AZUREML_DATAREFERENCE_<name>`` for every input and output, as Azure ML sets them."""
    return {f"AZUREML_DATAREFERENCE_{name}": path for name, path in {**inputs, **outputs}.items()}
