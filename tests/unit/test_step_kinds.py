"""The registry of step kinds is complete and each entry holds together: its class is that kind and is exported
as ``azureml.pipeline.steps`` exports it, its translator can be called.
That each operator module defines an operator is checked with the provider info (``test_provider_info``)."""

from __future__ import annotations

import inspect

import pytest

import amlflow.pipeline.steps as steps
from amlflow.factory.translators import translator_for
from amlflow.pipeline.core.builder import PipelineStep
from amlflow.step_kinds import STEP_KINDS


def test_every_step_class_amlflow_exports_is_a_registered_kind_and_every_kind_is_exported():
    exported = {
        name: cls
        for name in steps.__all__
        if isinstance(cls := getattr(steps, name), type) and issubclass(cls, PipelineStep)
    }
    assert set(exported) == set(STEP_KINDS)
    for name, kind in STEP_KINDS.items():
        assert kind.definition_class() is exported[name] and exported[name].kind == name


@pytest.mark.parametrize("name", sorted(STEP_KINDS))
def test_a_kinds_translator_takes_a_step_its_pipeline_and_the_common_arguments(name):
    parameters = list(inspect.signature(STEP_KINDS[name].translator_function()).parameters)
    assert parameters == ["step", "pipeline", "common"]


def test_a_step_of_an_unregistered_kind_is_refused_naming_the_step_and_kind():
    class NotebookStep(PipelineStep):
        kind = "NotebookStep"

    with pytest.raises(TypeError, match="step 'nb': amlflow cannot run steps of kind NotebookStep"):
        translator_for(NotebookStep("nb", None, None))
