"""`ovnmeta agent` and `ovnmeta status`."""

from __future__ import annotations

import argparse
import json
import logging

from ovnmeta.agent import allocator, config, status
from ovnmeta.core import eventloop, logs


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """`--config-file`/`--config-dir`, as upstream's agent takes them (also `healthcheck`)."""
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="PATH",
        help="ini file (repeatable; later files win)",
    )
    parser.add_argument(
        "--config-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="directory of *.conf files (repeatable)",
    )


def oslo_argv(args: argparse.Namespace) -> list[str]:
    """The parsed config arguments back into oslo.config's command line."""
    argv: list[str] = []
    for path in args.config_file:
        argv += ["--config-file", path]
    for path in args.config_dir:
        argv += ["--config-dir", path]
    return argv


def register(subparsers: argparse._SubParsersAction) -> None:
    agent = subparsers.add_parser(
        "agent", help="the metadata agent (drop-in for neutron-ovn-metadata-agent)"
    )
    add_config_arguments(agent)
    agent.add_argument(
        "--cleanup",
        action="store_true",
        help="do not run: stop the edge haproxy and the socket holder this config started, and "
        "remove every ovnmeta-* namespace (the agent itself never does this on exit)",
    )
    agent.add_argument(
        "--release",
        action="store_true",
        help="do not run: hand the chassis back to upstream's agent (docs/migration.md); run "
        "it first, then start upstream's agent: ovnmeta answers for upstream until upstream "
        "answers and runs its haproxies, then the edge soft-stops and the agent and the "
        "holder stop; namespaces, veths and ports stay for upstream to adopt",
    )
    agent.set_defaults(func=run_agent)

    st = subparsers.add_parser("status", help="what this chassis serves")
    add_config_arguments(st)
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=run_status)


def run_agent(args: argparse.Namespace) -> int:
    allocator.limit_arenas()
    settings = config.load(oslo_argv(args))
    if args.cleanup:
        from ovnmeta.agent import cleanup

        logs.setup(settings.agent.debug, None, None, False)
        return cleanup.run(settings)
    if args.release:
        from ovnmeta.agent import handover

        logs.setup(settings.agent.debug, None, None, False)
        return handover.release(settings)
    a = settings.agent
    logs.setup(a.debug, a.log_file, a.log_dir, a.use_syslog)
    from ovnmeta.agent import main as agent_main  # heavy imports only when it really runs

    async def main() -> int:
        logging.getLogger("ovnmeta.agent").info("event loop: %s", eventloop.name())
        return await agent_main.build(settings).run()

    return eventloop.run(main())


def run_status(args: argparse.Namespace) -> int:
    settings = config.load(oslo_argv(args))
    s = status.enrich(status.load(settings.agent.status_file))
    if args.json:
        print(json.dumps(s, indent=1, sort_keys=True))
    else:
        print(status.render_table(s))
    return 0 if s["agent_running"] else 1
