"""``EntryScript``: a ParallelRunStep entry script's logger and folders, as ``azureml_user.parallel_run``'s.

The mini-batch task sets ``AMLFLOW_PARALLEL_OUTPUT_DIR`` (the folder whose files join the step's output)
before it starts the entry script.
"""

from __future__ import annotations

import logging
import os

OUTPUT_DIR_ENV = "AMLFLOW_PARALLEL_OUTPUT_DIR"


class EntryScript:
    """``EntryScript().logger``, ``.output_dir``, ``.working_dir``, in ``init()`` and ``run()`` alike."""

    @property
    def logger(self) -> logging.Logger:
        """A logger whose lines go to the mini-batch task's log in Airflow."""
        return logging.getLogger("amlflow.entry_script")

    @property
    def output_dir(self) -> str:
        """The folder for files the script writes itself: they are added to the step's output when it succeeds."""
        folder = os.environ.get(OUTPUT_DIR_ENV)
        if not folder:
            raise RuntimeError("EntryScript().output_dir is only known while a ParallelRunStep runs the script")
        return folder

    @property
    def working_dir(self) -> str:
        """The script's working directory: a copy of the step's source directory."""
        return os.getcwd()
