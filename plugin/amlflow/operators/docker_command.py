"""``DockerCommandStepOperator``: a CommandStep run in a container of its environment's image.

The container run is ``DockerStepOperator``'s (image, bind mounts, variables, logs, stopping); the
process is ``CommandStepOperator``'s, ``/bin/sh -c`` with the command line, whose ``python`` is then
the image's.
"""

from __future__ import annotations

from amlflow.operators.command import CommandStepOperator
from amlflow.operators.docker import DockerStepOperator


class DockerCommandStepOperator(CommandStepOperator, DockerStepOperator):
    """Run a CommandStep's command line in a container (parameters: both parents')."""

    ui_color = "#e3f5ec"
