"""``Experiment``: a name that groups pipeline runs, as in ``azureml.core``.

In amlflow an experiment is not a stored object: the name travels with each run (in its conf, see
``amlflow.runtime.run_conf``), so runs submitted under a name can be found by it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from amlflow.exceptions import UserErrorException

if TYPE_CHECKING:
    from amlflow.core.workspace import Workspace
    from amlflow.pipeline.core.run import PipelineRun

#: Azure ML's rule for experiment names.
_NAME = re.compile(r"^[A-Za-z0-9][\w-]{0,255}$")


def experiment_name_problem(name: Any) -> str | None:
    """Why ``name`` is not a valid experiment name, or None if it is."""
    if not isinstance(name, str) or not _NAME.match(name):
        return (
            f"{name!r} is not a valid experiment name: use 1-256 letters, digits, '_' or '-', "
            "starting with a letter or a digit"
        )
    return None


class Experiment:
    """Runs grouped under a name in a workspace."""

    def __init__(self, workspace: Workspace, name: str, _skip_name_validation: bool = False, **kwargs: Any) -> None:
        if not _skip_name_validation:
            problem = experiment_name_problem(name)
            if problem:
                raise UserErrorException(f"Experiment: {problem}")
        self.workspace = workspace
        self.name = name

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"

    def submit(self, config: Any, tags: dict[str, str] | None = None, **kwargs: Any) -> PipelineRun:
        """Start a run of ``config`` in this experiment: a ``Pipeline``, a ``PublishedPipeline`` or a
        ``PipelineEndpoint`` (``pipeline_version`` picks its version).

        A ``Pipeline`` is sent to the deployment first (its code and definition, once per content; see
        ``amlflow.deployment``). ``pipeline_parameters`` (or the deprecated ``pipeline_params``) gives
        parameter values, ``regenerate_outputs=True`` reuses nothing; ``tags`` are kept on the run. Other
        keyword arguments are ignored, as Azure ML ignores them.
        """
        from amlflow.pipeline.core.graph import PublishedPipeline
        from amlflow.pipeline.core.pipeline import Pipeline
        from amlflow.pipeline.core.pipeline_endpoint import PipelineEndpoint

        parameters = kwargs.get("pipeline_parameters", kwargs.get("pipeline_params"))
        if isinstance(config, Pipeline):
            from amlflow import deployment

            return deployment.submit(config, self, parameters, tags=tags, **_submit_options(kwargs))
        if isinstance(config, PublishedPipeline):
            return config._submit(self, pipeline_parameters=parameters, tags=tags, **_submit_options(kwargs))
        if isinstance(config, PipelineEndpoint):
            version = kwargs.get("pipeline_version")
            return config._submit(self, parameters, version, tags=tags, **_submit_options(kwargs))
        raise UserErrorException(
            f"Experiment.submit: can't submit a {type(config).__name__}; amlflow runs a Pipeline or a "
            "PublishedPipeline or a PipelineEndpoint (Azure ML: 'Method to be submitted has not been registered.')"
        )

    @staticmethod
    def list(
        workspace: Workspace, experiment_name: str | None = None, view_type: str = "ActiveOnly", tags: Any = None
    ) -> list[Experiment]:
        """The experiments of the deployment: those runs were submitted to (``experiment_name``: only that one)."""
        from amlflow.client import client_for

        names = client_for(workspace).experiments()
        return [
            Experiment(workspace, name, _skip_name_validation=True)
            for name in names
            if experiment_name is None or name == experiment_name
        ]

    def get_runs(
        self, type: str | None = None, tags: Any = None, properties: Any = None, include_children: bool = False
    ) -> Iterator[PipelineRun]:
        """The runs submitted to this experiment (of every published pipeline), newest first."""
        from amlflow.client import client_for
        from amlflow.pipeline.core.run import PipelineRun
        from amlflow.runtime import run_conf

        # Airflow filters on the conf's text; the exact match on the experiment name is made here.
        for run in client_for(self.workspace).dag_runs(conf_contains=self.name, order_by="-run_after"):
            if run_conf.experiment_name(run.get("conf")) == self.name:
                yield PipelineRun(self, run["dag_run_id"])


def _submit_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    keep = ("continue_on_step_failure", "regenerate_outputs", "description")
    return {key: kwargs[key] for key in keep if key in kwargs}
