"""Sub-commands of the ``amlflow`` command line (see ``amlflow.cli``)."""
