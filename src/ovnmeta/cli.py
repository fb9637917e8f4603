"""The `ovnmeta` command, one subcommand per component, and the upstream entry points.

Each component module exposes `register(subparsers)`, which adds its subcommand and sets
`func` on the parsed arguments. Errors derived from OvnmetaError are printed as one line
and turned into the exit code; anything else is a bug and keeps its traceback.
"""

import argparse
import importlib
import sys
from collections.abc import Sequence

from ovnmeta import __version__
from ovnmeta.core.errors import OvnmetaError

# Each subcommand and the module whose `register` adds it. Only the chosen one is imported:
# the agent's long-lived process does not carry the lab's and deployment tools' code (about
# 5 MB of RSS, docs/agent.md "Memory").
COMMANDS = {
    "agent": "ovnmeta.agent.cli",
    "status": "ovnmeta.agent.cli",
    "healthcheck": "ovnmeta.agent.healthcheck",
    "lab": "ovnmeta.lab.cli",
    "metadata-api": "ovnmeta.metadata_api.cli",
    "instance": "ovnmeta.metadata_api.cli",
    "config": "ovnmeta.deploy.cli",
    "demo": "ovnmeta.lab.demo",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every subcommand, or with `command` (one of COMMANDS) only the one module that adds it."""
    parser = argparse.ArgumentParser(
        prog="ovnmeta", description="Metadata service for OVN-based clouds."
    )
    parser.add_argument("--version", action="version", version=f"ovnmeta {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        return args.func(args) or 0
    except OvnmetaError as exc:
        print(f"ovnmeta: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


def neutron_main() -> int:
    """`neutron-ovn-metadata-agent --config-file F [--config-dir D]`: `ovnmeta agent`."""
    return main(["agent", *sys.argv[1:]])
