"""Step kinds a YAML pipeline can use: every step class that ``amlflow.pipeline.steps`` exports.

A YAML step ``kind: X`` is the class whose ``kind`` is ``X``; its other keys are that class's
constructor arguments. A new step kind needs no registration here: exporting it from
``amlflow.pipeline.steps`` (as the Python API needs anyway) makes it usable from YAML.
"""

from __future__ import annotations

import functools
import inspect

from amlflow.pipeline.core.builder import PipelineStep


@functools.cache
def step_kinds() -> dict[str, type[PipelineStep]]:
    """Step kind name -> class."""
    import amlflow.pipeline.steps as steps

    kinds = {}
    for name in steps.__all__:
        cls = getattr(steps, name)
        if isinstance(cls, type) and issubclass(cls, PipelineStep):
            kinds[cls.kind] = cls
    return dict(sorted(kinds.items()))


def constructor_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword arguments ``cls(...)`` takes, by name (not ``self``, ``*args`` or ``**kwargs``)."""
    signature = inspect.signature(cls.__init__)
    return {
        name: param
        for name, param in list(signature.parameters.items())[1:]
        if param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
