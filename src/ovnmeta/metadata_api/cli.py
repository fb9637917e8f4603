"""`ovnmeta metadata-api` (run the server) and `ovnmeta instance add|show|list|update|rm`.

    ovnmeta metadata-api --db /var/lib/ovnmeta/instances.sqlite3 --listen 127.0.0.1 \\
        --port 8775 --shared-secret-file /etc/ovnmeta/secret     # or --config-file F.ini
    ovnmeta instance add --name vm1 --project demo --user-data ud.yaml \\
        --key "lab=ssh-ed25519 AAAA... me" --meta role=web \\
        --nic mac=fa:16:3e:00:00:01,ip=10.0.0.11/24,gw=10.0.0.1,dns=10.0.0.2,mtu=1442
    ovnmeta instance show UUID [--json]  |  list [--json]  |  update UUID ...  |  rm UUID

`--nic` keys: mac (required), net, port, mtu, type, dev; then `ip=ADDR/PREFIX` (repeatable),
and `gw`, `dns` (`+`-separated), `mode`, `fip` which apply to the ip given before them.
"""

import argparse
import json
import sys
import uuid as uuidlib
from pathlib import Path
from typing import Any

from ovnmeta.core import logs, tables
from ovnmeta.core.checks import key_value
from ovnmeta.core.errors import UsageError
from ovnmeta.metadata_api import codec, config, model, settings, store


def register(subparsers: argparse._SubParsersAction) -> None:
    _register_server(subparsers)
    _register_instance(subparsers)


# --- metadata-api --------------------------------------------------------------------------


def _register_server(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "metadata-api",
        help="serve the Nova-compatible metadata API from the instance store",
        description="Serve the Nova metadata API (proxy mode) until SIGTERM.",
    )
    _add_config_args(parser)
    parser.add_argument("--listen", metavar="IP", help="address to bind (metadata_listen)")
    parser.add_argument("--port", type=int, metavar="N", help="TCP port; 0 picks a free one")
    parser.add_argument("--shared-secret-file", metavar="FILE", help="file with the HMAC key")
    parser.add_argument("--vendor-data", metavar="FILE", help="StaticJSON vendor data file")
    parser.add_argument("--dhcp-domain", metavar="DOMAIN", help="appended to hostnames")
    parser.add_argument("--cache-ttl", type=int, metavar="S", help="metadata_cache_expiration")
    parser.add_argument("--debug", action="store_true", help="log every request")
    parser.set_defaults(func=_run_server)


def _add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config-file",
        action="append",
        default=[],
        metavar="FILE",
        help="INI file with a [metadata_api] section (repeatable)",
    )
    parser.add_argument("--db", metavar="PATH", help="SQLite instance store (db_path)")


def load_settings(args: argparse.Namespace) -> settings.ApiSettings:
    return config.load(
        args.config_file,
        shared_secret_file=getattr(args, "shared_secret_file", None),
        vendor_data_file=getattr(args, "vendor_data", None),
        db_path=args.db,
        metadata_listen=getattr(args, "listen", None),
        metadata_listen_port=getattr(args, "port", None),
        dhcp_domain=getattr(args, "dhcp_domain", None),
        metadata_cache_expiration=getattr(args, "cache_ttl", None),
    )


def _run_server(args: argparse.Namespace) -> int:
    import asyncio

    from ovnmeta.metadata_api import app  # aiohttp only for the command that needs it

    api_settings = load_settings(args)
    logs.setup(args.debug)
    asyncio.run(app.serve(api_settings))
    return 0


# --- instance ------------------------------------------------------------------------------


def _register_instance(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("instance", help="manage instance records in the store")
    commands = parser.add_subparsers(dest="instance_command", required=True, metavar="ACTION")

    add = commands.add_parser("add", help="register an instance")
    _add_config_args(add)
    add.add_argument("--uuid", help="instance UUID (default: a new random one)")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--hostname", help="host name (default: derived from --name)")
    add.add_argument("--project", required=True, help="project (tenant) id")
    _add_record_args(add)
    add.add_argument("--replace", action="store_true", help="overwrite an existing record")
    add.set_defaults(func=_add)

    show = commands.add_parser("show", help="print one instance")
    _add_config_args(show)
    show.add_argument("uuid")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.add_argument("--with-user-data", action="store_true", help="include user_data_b64")
    show.set_defaults(func=_show)

    listing = commands.add_parser("list", help="list instances")
    _add_config_args(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=_list)

    update = commands.add_parser("update", help="change fields of an instance")
    _add_config_args(update)
    update.add_argument("uuid")
    update.add_argument("--name")
    update.add_argument("--hostname")
    update.add_argument("--project")
    _add_record_args(update)
    update.add_argument("--no-user-data", action="store_true", help="remove the user data")
    update.add_argument("--no-keys", action="store_true", help="remove all key pairs")
    update.add_argument("--unset-meta", action="append", default=[], metavar="KEY")
    update.add_argument("--no-vendor-data", action="store_true")
    update.add_argument("--clear-password", action="store_true", help="forget the password")
    update.set_defaults(func=_update)

    remove = commands.add_parser("rm", help="remove an instance")
    _add_config_args(remove)
    remove.add_argument("uuid")
    remove.add_argument("--missing-ok", action="store_true", help="no error when absent")
    remove.set_defaults(func=_remove)


def _add_record_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--az", help="availability zone")
    parser.add_argument("--user-data", metavar="FILE", help="user data file (any bytes; - stdin)")
    parser.add_argument(
        "--key",
        action="append",
        default=[],
        metavar="NAME=PUBKEY",
        help="SSH key pair; NAME=@FILE reads the key from a file (repeatable)",
    )
    parser.add_argument(
        "--meta", action="append", default=[], metavar="K=V", help="metadata (repeatable)"
    )
    parser.add_argument("--vendor-data", metavar="FILE", help="this instance's vendor data JSON")
    parser.add_argument(
        "--nic",
        action="append",
        default=[],
        metavar="SPEC",
        help="a port, e.g. mac=fa:16:3e:00:00:01,ip=10.0.0.11/24,gw=10.0.0.1,dns=10.0.0.2,"
        "mtu=1442,net=NET_UUID,port=PORT_UUID (repeatable; gw/dns/mode/fip follow their ip)",
    )
    parser.add_argument(
        "--network-json", metavar="FILE", help='JSON list of vifs, as "vifs" in show --json'
    )
    parser.add_argument("--flavor")
    parser.add_argument("--launch-index", type=int)
    parser.add_argument("--security-group", action="append", default=[], metavar="NAME")
    parser.add_argument(
        "--imds-tokens",
        choices=model.IMDS_TOKEN_MODES,
        help="session tokens: optional (default), or required (token-less requests get 401)",
    )


def _open(args: argparse.Namespace, *, create: bool = False) -> store.InstanceStore:
    db_path = args.db or config.load(args.config_file).db_path
    if create:
        try:
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"--db {db_path}: cannot create its directory: {exc.strerror}"
            ) from exc
    return store.InstanceStore(db_path, create=create)


def _read_bounded(path: str, option: str, limit: int) -> bytes:
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
        else:
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
    except OSError as exc:
        raise UsageError(f"{option} {path}: cannot read: {exc.strerror}") from exc
    if len(data) > limit:
        raise UsageError(f"{option} {path}: larger than the limit of {limit} bytes")
    return data


def _read_text(path: str, option: str, limit: int) -> str:
    try:
        return _read_bounded(path, option, limit).decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{option} {path}: not UTF-8 text") from None


def _key_pair(text: str) -> model.KeyPair:
    name, value = key_value("--key", text)
    if value.startswith("@"):
        value = _read_text(value[1:], "--key", model.MAX_PUBLIC_KEY).strip()
    return model.KeyPair(name, value.strip())


def parse_nic(spec: str) -> model.Vif:
    """`mac=..,net=..,port=..,mtu=..,ip=A/P,gw=..,dns=a+b,mode=..,fip=..` -> Vif."""
    vif: dict[str, Any] = {}
    ips: list[dict[str, Any]] = []
    vif_keys = {
        "mac": "mac",
        "net": "network_id",
        "port": "port_id",
        "type": "type",
        "dev": "devname",
    }
    for item in filter(None, spec.split(",")):
        key, value = key_value("--nic", item)
        if key in vif_keys:
            vif[vif_keys[key]] = value.lower() if key == "mac" else value
        elif key == "mtu":
            vif["mtu"] = _int(value, "--nic mtu")
        elif key == "ip":
            address, _, prefix = value.partition("/")
            ips.append({"address": address, "prefixlen": _int(prefix or "-1", "--nic ip prefix")})
        elif key in ("gw", "dns", "mode", "fip"):
            if not ips:
                raise UsageError(f"--nic {spec[:60]!r}: {key}= must follow an ip=")
            field = {"gw": "gateway", "dns": "dns", "mode": "mode", "fip": "floating_ip"}[key]
            ips[-1][field] = tuple(value.split("+")) if key == "dns" else value
        else:
            raise UsageError(f"--nic {spec[:60]!r}: unknown key {key!r}")
    if "mac" not in vif:
        raise UsageError(f"--nic {spec[:60]!r}: mac= is required")
    return model.Vif(**vif, fixed_ips=tuple(model.FixedIp(**ip) for ip in ips))


def _int(text: str, option: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{option}: {text!r} is not a number") from None


def _vifs(args: argparse.Namespace) -> tuple[model.Vif, ...] | None:
    if args.nic and args.network_json:
        raise UsageError("--nic and --network-json: give one or the other")
    if args.nic:
        return tuple(parse_nic(spec) for spec in args.nic)
    if args.network_json:
        text = _read_text(args.network_json, "--network-json", 1 << 20)
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--network-json {args.network_json}: not JSON ({exc})") from None
        if not isinstance(doc, list):
            raise UsageError(f"--network-json {args.network_json}: must be a JSON list of vifs")
        return tuple(codec.vif_from_dict(v) for v in doc)
    return None


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Fields given on the command line, for add and update alike."""
    fields: dict[str, Any] = {}
    if args.az is not None:
        fields["availability_zone"] = args.az
    if args.user_data is not None:
        fields["user_data"] = _read_bounded(
            args.user_data, "--user-data", model.MAX_USER_DATA_BYTES
        )
    if args.key:
        fields["key_pairs"] = tuple(_key_pair(k) for k in args.key)
    if args.vendor_data is not None:
        fields["vendor_data"] = _read_text(args.vendor_data, "--vendor-data", model.MAX_VENDOR_DATA)
    vifs = _vifs(args)
    if vifs is not None:
        fields["vifs"] = vifs
    if args.flavor is not None:
        fields["flavor"] = args.flavor
    if args.launch_index is not None:
        fields["launch_index"] = args.launch_index
    if args.security_group:
        fields["security_groups"] = tuple(args.security_group)
    if args.imds_tokens is not None:
        fields["imds_tokens"] = args.imds_tokens
    return fields


def _metadata(args: argparse.Namespace) -> dict[str, str]:
    return dict(key_value("--meta", item) for item in args.meta)


def _add(args: argparse.Namespace) -> int:
    fields = _common_fields(args)
    record = model.InstanceRecord(
        uuid=args.uuid or str(uuidlib.uuid4()),
        name=args.name,
        hostname=args.hostname or model.hostname_from_name(args.name),
        project_id=args.project,
        metadata=tuple(_metadata(args).items()),
        **fields,
    )
    with _open(args, create=True) as instances:
        instances.add(record, replace=args.replace)
    print(record.uuid)
    return 0


def _update(args: argparse.Namespace) -> int:
    fields = _common_fields(args)
    for name, attr in (("name", "name"), ("hostname", "hostname"), ("project", "project_id")):
        if getattr(args, name) is not None:
            fields[attr] = getattr(args, name)
    if args.no_user_data:
        fields["user_data"] = None
    if args.no_keys:
        fields["key_pairs"] = ()
    if args.no_vendor_data:
        fields["vendor_data"] = None
    with _open(args) as instances:
        current = instances.require(args.uuid)
        if args.meta or args.unset_meta:
            meta = current.meta | _metadata(args)
            for key in args.unset_meta:
                meta.pop(key, None)
            fields["metadata"] = tuple(meta.items())
        if fields:
            instances.update(current.uuid, **fields)
        if args.clear_password:
            instances.clear_password(current.uuid)
        if not fields and not args.clear_password:
            raise UsageError("update: nothing to change (see --help)")
    return 0


def _show(args: argparse.Namespace) -> int:
    with _open(args) as instances:
        record = instances.require(args.uuid)
    if args.json:
        print(json.dumps(codec.to_dict(record, user_data=args.with_user_data), indent=2))
        return 0
    doc = codec.to_dict(record, user_data=False)
    for key in (
        "uuid", "name", "hostname", "project_id", "availability_zone", "flavor", "imds_tokens"
    ):  # fmt: skip
        print(f"{key}: {doc[key] if doc[key] is not None else '-'}")
    print(f"user_data: {doc['user_data_bytes']} bytes")
    for key in record.key_pairs:
        print(f"key_pair: {key.name} ({key.type}) {key.public_key[:40]}...")
    for meta_key, value in record.metadata:
        print(f"meta: {meta_key}={value}")
    for vif in record.vifs:
        ips = " ".join(f"{ip.address}/{ip.prefixlen}" for ip in vif.fixed_ips)
        print(f"vif: {vif.mac} mtu={vif.mtu or '-'} {ips}".rstrip())
    return 0


def _list(args: argparse.Namespace) -> int:
    with _open(args) as instances:
        records = instances.list()
    if args.json:
        print(json.dumps([codec.to_dict(r, user_data=False) for r in records], indent=2))
        return 0
    rows = [
        (r.uuid, r.name, r.hostname, r.project_id, str(len(r.key_pairs)),
         str(len(r.user_data or b"")))
        for r in records
    ]  # fmt: skip
    print(tables.render(("UUID", "NAME", "HOSTNAME", "PROJECT", "KEYS", "USER_DATA"), rows))
    return 0


def _remove(args: argparse.Namespace) -> int:
    with _open(args) as instances:
        instances.remove(args.uuid, missing_ok=args.missing_ok)
    return 0
