"""Watching a run, as ``azureml.widgets``: ``RunDetails(run).show()``."""

from amlflow.widgets.run_details import RunDetails

__all__ = ["RunDetails"]
