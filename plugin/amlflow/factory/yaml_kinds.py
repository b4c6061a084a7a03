"""Step kinds a YAML pipeline can use: every kind of ``amlflow.step_kinds``.

A YAML step ``kind: X`` is the class whose ``kind`` is ``X``; its other keys are that class's
constructor arguments. A new step kind needs no registration here: its entry in ``amlflow.step_kinds``
makes it usable from YAML, with its schema derived from its constructor.
"""

from __future__ import annotations

import functools
import inspect

from amlflow.pipeline.core.builder import PipelineStep


@functools.cache
def step_kinds() -> dict[str, type[PipelineStep]]:
    """Step kind name -> class."""
    from amlflow.step_kinds import STEP_KINDS

    return {name: STEP_KINDS[name].definition_class() for name in sorted(STEP_KINDS)}


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword arguments ``cls(...)`` takes, by name (not ``self``, ``*args`` or ``**kwargs``)."""
    signature = inspect.signature(cls.__init__)
    return {
        name: param
        for name, param in list(signature.parameters.items())[1:]
        if param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
