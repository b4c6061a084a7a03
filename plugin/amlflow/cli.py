"""The ``amlflow`` command: deploy-time and authoring tasks around Airflow.

Each sub-command lives in ``amlflow.commands.<name>`` and registers itself through ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: sub-command name -> module with ``add_arguments(parser)`` and ``run(args) -> int``
COMMANDS: dict[str, str] = {
    "pools": "amlflow.commands.pools",
    "computes": "amlflow.commands.computes",
    "validate": "amlflow.commands.validate",
    "render": "amlflow.commands.render",
    "dags": "amlflow.commands.dags",
}


def build_parser() -> argparse.ArgumentParser:
    """The ``amlflow`` argument parser: one subcommand per module of ``COMMANDS``."""
    parser = argparse.ArgumentParser(prog="amlflow", description="Azure ML style pipelines on Airflow.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=module.__doc__.strip().splitlines()[0])
        module.add_arguments(command)
        command.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``amlflow`` command line; answers the exit status."""
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
