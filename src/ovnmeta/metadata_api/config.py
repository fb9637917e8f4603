"""`[metadata_api]` INI section -> ApiSettings (oslo.config; reads files).

    [metadata_api]
    metadata_listen = 127.0.0.1
    metadata_listen_port = 8775
    db_path = /var/lib/ovnmeta/instances.sqlite3
    metadata_proxy_shared_secret = s3cr3t
    dhcp_domain = novalocal
    vendordata_jsonfile_path = /etc/ovnmeta/vendor_data.json
    metadata_cache_expiration = 15

The shared secret may instead come from Nova's `[neutron] metadata_proxy_shared_secret` or
the agent's `[DEFAULT] metadata_proxy_shared_secret`, so one file can serve both sides;
`[metadata_api]` wins, then `[neutron]`, then `[DEFAULT]`. Command-line overrides are
applied last. Errors name the option and become ConfigError (exit code 2).
"""

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oslo_config import cfg

from ovnmeta.core.errors import ConfigError
from ovnmeta.metadata_api import model, settings

GROUP = settings.SECTION
_SECRET = settings.SECRET_OPT

_OPTS = [
    cfg.HostAddressOpt(
        settings.LISTEN_OPT, default=settings.DEFAULT_LISTEN, help="address to bind"
    ),
    cfg.PortOpt(settings.PORT_OPT, default=settings.DEFAULT_PORT, help="TCP port to bind"),
    cfg.StrOpt(
        settings.DB_PATH_OPT, default=settings.DEFAULT_DB_PATH, help="SQLite instance store"
    ),
    cfg.StrOpt(_SECRET, secret=True, help="HMAC key shared with the metadata agent"),
    cfg.StrOpt(
        settings.DHCP_DOMAIN_OPT,
        default=settings.DEFAULT_DHCP_DOMAIN,
        help="domain appended to hostnames",
    ),
    cfg.StrOpt(settings.VENDOR_DATA_OPT, help="StaticJSON vendor data file"),
    cfg.IntOpt(
        settings.CACHE_OPT,
        default=settings.DEFAULT_CACHE_EXPIRATION,
        min=0,
        help="instance cache TTL, s",
    ),
    cfg.StrOpt(settings.IDENTITY_KEY_OPT, help="PEM key signing the instance identity document"),
    cfg.StrOpt(settings.IDENTITY_CERT_OPT, help="PEM certificate of identity_key"),
    cfg.StrOpt(
        settings.REGION_OPT, default=settings.DEFAULT_REGION, help="region in identity documents"
    ),
]


def _conf(config_files: Sequence[str]) -> cfg.ConfigOpts:
    conf = cfg.ConfigOpts()  # private: never the process-global CONF other components use
    conf.register_opts(_OPTS, group=GROUP)
    conf.register_opt(cfg.StrOpt(_SECRET, secret=True), group="neutron")
    conf.register_opt(cfg.StrOpt(_SECRET, secret=True))
    for path in config_files:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: config file not found")
    try:
        conf(args=[], project="ovnmeta", default_config_files=list(config_files), use_env=False)
    except cfg.Error as exc:
        raise ConfigError(f"config: {exc}") from exc
    return conf


def read_text_file(path: str, option: str, limit: int) -> str:
    """A small text file named by an option; the whole line for an operator when it fails."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{option}: cannot read {path}: {exc.strerror}") from exc
    if len(data) > limit:
        raise ConfigError(f"{option}: {path} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{option}: {path} is not UTF-8 text") from None


def load_vendor_data(path: str) -> str:
    text = read_text_file(path, "vendordata_jsonfile_path", model.MAX_VENDOR_DATA)
    try:
        result = model.check_vendor_data(text)
    except model.InvalidRecord as exc:
        raise ConfigError(f"vendordata_jsonfile_path: {path}: {exc}") from None
    assert result is not None
    return result


def load(
    config_files: Sequence[str] = (),
    *,
    shared_secret_file: str | None = None,
    vendor_data_file: str | None = None,
    **overrides: Any,
) -> settings.ApiSettings:
    """Settings from INI files, then explicit overrides (None values are ignored)."""
    try:
        conf = _conf(config_files)
        group = conf[GROUP]
        secret = group[_SECRET]
        if secret is None:
            secret = conf.neutron[_SECRET]
        if secret is None:
            secret = conf[_SECRET]
        values: dict[str, Any] = {
            "metadata_listen": group.metadata_listen,
            "metadata_listen_port": group.metadata_listen_port,
            "db_path": group.db_path,
            _SECRET: secret or "",
            "dhcp_domain": group.dhcp_domain or "",
            "metadata_cache_expiration": group.metadata_cache_expiration,
            "identity_key": group.identity_key or None,
            "identity_cert": group.identity_cert or None,
            "region": group.region or settings.DEFAULT_REGION,
        }
        vendor_path = vendor_data_file or group.vendordata_jsonfile_path
    except (cfg.Error, ValueError) as exc:  # values are parsed on first access
        raise ConfigError(f"config: {exc}") from exc
    if vendor_path:
        values["vendor_data"] = load_vendor_data(vendor_path)
    if bool(values["identity_key"]) != bool(values["identity_cert"]):
        raise ConfigError("identity_key and identity_cert: set both, or neither")
    if shared_secret_file:
        # A trailing newline is an editor artefact, never part of the key.
        secret_text = read_text_file(shared_secret_file, "--shared-secret-file", 4096)
        values[_SECRET] = secret_text.rstrip("\r\n")
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return settings.ApiSettings(**values)
    except TypeError as exc:
        raise ConfigError(f"config: {exc}") from exc


def as_dict(value: settings.ApiSettings) -> dict[str, Any]:
    """For `--show-config`-style output: the secret is masked."""
    doc = dataclasses.asdict(value)
    doc[_SECRET] = "***" if value.metadata_proxy_shared_secret else ""
    return doc
