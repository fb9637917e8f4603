"""Settings of the metadata API server (pure values; loaded by `metadata_api.config`).

Field names keep Nova's option names where Nova has one, so one grep covers both worlds.
"""

from dataclasses import dataclass, field

SECTION = "metadata_api"
"""The INI section `metadata_api.config` reads and `ovnmeta config render` writes."""

# The INI option names, owned here (pure) for the loader and for `deploy.render`.
LISTEN_OPT = "metadata_listen"
PORT_OPT = "metadata_listen_port"
DB_PATH_OPT = "db_path"
SECRET_OPT = "metadata_proxy_shared_secret"
DHCP_DOMAIN_OPT = "dhcp_domain"
VENDOR_DATA_OPT = "vendordata_jsonfile_path"
CACHE_OPT = "metadata_cache_expiration"
IDENTITY_KEY_OPT = "identity_key"
IDENTITY_CERT_OPT = "identity_cert"
REGION_OPT = "region"

DEFAULT_LISTEN = "127.0.0.1"
DEFAULT_PORT = 8775
DEFAULT_DB_PATH = "/var/lib/ovnmeta/instances.sqlite3"
DEFAULT_DHCP_DOMAIN = "novalocal"
DEFAULT_CACHE_EXPIRATION = 15
DEFAULT_REGION = "RegionOne"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    metadata_listen: str = DEFAULT_LISTEN
    """Address to bind. Nova's default is 0.0.0.0; loopback is the safe default here."""
    metadata_listen_port: int = DEFAULT_PORT
    """TCP port (Nova's default). 0 picks a free port and logs it."""
    db_path: str = DEFAULT_DB_PATH
    """The SQLite instance store; created empty when missing."""
    metadata_proxy_shared_secret: str = field(default="", repr=False)
    """HMAC key shared with the agent. Empty is legal (Nova then validates with an empty key)."""
    dhcp_domain: str = DEFAULT_DHCP_DOMAIN
    """hostname = <instance hostname>.<dhcp_domain>; empty gives the bare hostname."""
    vendor_data: str | None = None
    """StaticJSON vendor data (canonical JSON text) read from vendordata_jsonfile_path."""
    metadata_cache_expiration: int = DEFAULT_CACHE_EXPIRATION
    """Seconds a looked-up instance is served from memory (Nova's default); 0 disables."""
    cache_max_entries_n: int = 4096
    """Bound on cached instances, so a scan of random ids cannot grow memory."""
    request_body_timeout_s: float = 5.0
    """Longest wait for a password POST body from a slow (or hostile) client."""
    shutdown_timeout_s: float = 5.0
    """On SIGTERM, how long in-flight requests may finish."""
    identity_key: str | None = None
    """PEM private key that signs the instance identity document; without it (or without
    `identity_cert`) `/latest/dynamic/` is 404."""
    identity_cert: str | None = None
    """PEM certificate of `identity_key`, embedded in the PKCS#7 signatures; relying
    parties verify against it."""
    region: str = DEFAULT_REGION
    """`region` in the identity document (Keystone's default region name)."""
