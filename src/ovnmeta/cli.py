"""The `ovnmeta` command, one subcommand per component, and the upstream entry points.

Each component module exposes `register(subparsers)`, which adds its subcommand and sets
`func` on the parsed arguments. Errors derived from OvnmetaError are printed as one line
and turned into the exit code; anything else is a bug and keeps its traceback.
"""

import argparse
import sys
from collections.abc import Sequence

from ovnmeta import __version__
from ovnmeta.agent import cli as agent_cli
from ovnmeta.agent import healthcheck as healthcheck_cli
from ovnmeta.core.errors import OvnmetaError
from ovnmeta.deploy import cli as deploy_cli
from ovnmeta.lab import cli as lab_cli
from ovnmeta.lab import demo
from ovnmeta.metadata_api import cli as metadata_api_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ovnmeta", description="Metadata service for OVN-based clouds."
    )
    parser.add_argument("--version", action="version", version=f"ovnmeta {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    agent_cli.register(subparsers)
    healthcheck_cli.register(subparsers)
    lab_cli.register(subparsers)
    metadata_api_cli.register(subparsers)
    deploy_cli.register(subparsers)
    demo.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
