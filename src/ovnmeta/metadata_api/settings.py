"""Settings of the metadata API server (pure values; loaded by `metadata_api.config`).

Field names keep Nova's option names where Nova has one, so one grep covers both worlds.
"""

from dataclasses import dataclass, field

DEFAULT_DB_PATH = "/var/lib/ovnmeta/instances.sqlite3"


@dataclass(frozen=True, slots=True)
class ApiSettings:
    metadata_listen: str = "127.0.0.1"
    """Address to bind. Nova's default is 0.0.0.0; loopback is the safe default here."""
    metadata_listen_port: int = 8775
    """TCP port (Nova's default). 0 picks a free port and logs it."""
    db_path: str = DEFAULT_DB_PATH
    """The SQLite instance store; created empty when missing."""
    metadata_proxy_shared_secret: str = field(default="", repr=False)
    """HMAC key shared with the agent. Empty is legal (Nova then validates with an empty key)."""
    dhcp_domain: str = "novalocal"
    """hostname = <instance hostname>.<dhcp_domain>; empty gives the bare hostname."""
    vendor_data: str | None = None
    """StaticJSON vendor data (canonical JSON text) read from vendordata_jsonfile_path."""
    metadata_cache_expiration: int = 15
    """Seconds a looked-up instance is served from memory (Nova's default); 0 disables."""
    cache_max_entries_n: int = 4096
    """Bound on cached instances, so a scan of random ids cannot grow memory."""
    request_body_timeout_s: float = 5.0
    """Longest wait for a password POST body from a slow (or hostile) client."""
    shutdown_timeout_s: float = 5.0
    """On SIGTERM, how long in-flight requests may finish."""
