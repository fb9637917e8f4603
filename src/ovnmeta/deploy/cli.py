"""`ovnmeta config render --role compute|controller --params FILE [--out DIR] [--conf-d]`.

Reads the parameters (YAML, or JSON for a `.json` file), validates them (`params.parse`),
checks that every file they name exists, renders (`render.render`), loads the rendered agent ini
back through the agent's own option parser, and only then writes: every file or none. Without
`--out` the files go to stdout, each after a `# ==> NAME <==` line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Any

import yaml

from ovnmeta.agent import config
from ovnmeta.core.errors import ConfigError, UsageError
from ovnmeta.deploy import params, render


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="render deployment configuration")
    sub = parser.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    r = sub.add_parser(
        "render",
        help="parameters file -> the ini files of one role",
        description="Render the ini files a compute (the agent) or a controller (the metadata "
        "API) needs from a small deployment description. Nothing is written unless everything "
        "validates.",
    )
    r.add_argument("--role", required=True, choices=params.ROLES)
    r.add_argument("--params", required=True, metavar="FILE", help="YAML (or .json) parameters")
    r.add_argument("--out", metavar="DIR", help="directory to write to (default: stdout)")
    r.add_argument(
        "--conf-d",
        action="store_true",
        help="name the files for a --config-dir such as /etc/neutron.conf.d "
        "(01-neutron-ovn-metadata-agent.conf, ...): oslo.config reads only *.conf there",
    )
    r.add_argument(
        "--skip-file-checks",
        action="store_true",
        help="do not require the TLS and other files named by the parameters to exist here "
        "(rendering for another host)",
    )
    r.set_defaults(func=run_render)


def run_render(args: argparse.Namespace) -> int:
    files, warnings = render_files(args.params, args.role, check_files=not args.skip_file_checks)
    if args.conf_d:
        files = render.for_conf_d(files)
    for warning in warnings:
        print(f"ovnmeta: warning: {warning}", file=sys.stderr)
    if args.out:
        write_all(args.out, files)
        for f in files:
            print(os.path.join(args.out, f.name))
    else:
        try:
            for f in files:
                sys.stdout.write(f"# ==> {f.name} <==\n{f.text}")
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: not an error worth a traceback
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def render_files(
    path: str, role: str, check_files: bool = True
) -> tuple[tuple[render.RenderedFile, ...], tuple[str, ...]]:
    data = read_params(path)
    try:
        deployment = params.parse(data, role)
        if check_files:
            for name, file in params.files_to_check(deployment):
                check_readable(name, file)
        files = render.render(deployment, role)
        for f in files:
            if f.name == render.AGENT_INI:
                check_agent_loads(f.text)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return files, deployment.warnings


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (the last one would silently win)."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise ConfigError(f"{key}: given twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def read_params(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the parameters: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text") from exc
    try:
        if path.endswith(".json"):
            return json.loads(text)
        return yaml.load(text, Loader=_StrictLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except (yaml.YAMLError, ValueError) as exc:
        raise ConfigError(
            f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: "
            f"{' '.join(str(exc).split())}"
        ) from exc


def check_readable(name: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read {path!r}: {exc.strerror}") from exc


def check_agent_loads(text: str) -> None:
    """The rendered ini must pass the agent's own loader (no file access beyond the ini)."""
    with tempfile.TemporaryDirectory(prefix="ovnmeta-render-") as tmp:
        ini = os.path.join(tmp, render.AGENT_INI)
        with open(ini, "w", encoding="utf-8") as f:
            f.write(text)
        config.load(["--config-file", ini], default_config_dirs=(), read_files=False)


def write_all(out: str, files: tuple[render.RenderedFile, ...]) -> None:
    """Write every file next to its final name first, then rename them all into place."""
    try:
        os.makedirs(out, mode=0o750, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{out}: cannot create the output directory: {exc.strerror}") from exc
    staged: list[tuple[str, str]] = []
    try:
        for f in files:
            final = os.path.join(out, f.name)
            fd, tmp = tempfile.mkstemp(prefix=f".{f.name}.", dir=out)
            staged.append((tmp, final))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), f.mode)
                handle.write(f.text)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, final in staged:
            os.replace(tmp, final)
    except OSError as exc:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise UsageError(f"{out}: cannot write: {exc.strerror}") from exc
