"""The embedded Nova-compatible metadata API and its SQLite instance store.

Modules (pure ones import no I/O library, take time/randomness/settings as arguments):

    model.py     pure  InstanceRecord, KeyPair, Vif, FixedIp, Route; limits; InvalidRecord
    paths.py     pure  request path -> Root | Password | Document | NotFound (Nova's normpath)
    validate.py  pure  header checks in Nova's order (400, 400, 400, 403) and owner (404)
    render.py    pure  record + path -> Reply(status, content type, bytes), both trees
    codec.py     pure  InstanceRecord <-> JSON-able dict
    settings.py  pure  ApiSettings
    config.py    I/O   [metadata_api] INI section (oslo.config) -> ApiSettings
    store.py     I/O   InstanceStore on SQLite
    app.py       I/O   aiohttp shell, serve() with graceful SIGTERM
    cli.py       I/O   `ovnmeta metadata-api`, `ovnmeta instance add|show|list|update|rm`

Python API for the lab (stable):

    from ovnmeta.metadata_api.model import InstanceRecord, KeyPair, Vif, FixedIp
    from ovnmeta.metadata_api.store import InstanceStore

    with InstanceStore("/run/ovnmeta-lab/instances.sqlite3") as instances:  # created if missing
        instances.add(InstanceRecord(
            uuid=vm_uuid, name="vm1", hostname="vm1", project_id=project,
            availability_zone="nova",
            key_pairs=(KeyPair("mykey", "ssh-ed25519 AAAA... me@host"),),
            user_data=Path("ud.yaml").read_bytes(),            # any bytes, <= 49149
            metadata=(("role", "web"),),                        # or a dict
            vifs=(Vif(mac="fa:16:3e:..", network_id=net, port_id=port, mtu=1442,
                      fixed_ips=(FixedIp("10.0.0.11", 24, gateway="10.0.0.1",
                                         dns=("10.0.0.2",)),)),),
        ), replace=True)
        instances.get(vm_uuid); instances.list(); instances.update(vm_uuid, name="x")
        instances.remove(vm_uuid, missing_ok=True)

Invalid input raises InvalidRecord (a UsageError); store trouble raises StoreError; both
carry one operator-readable line. The server as a process:

    ovnmeta metadata-api --db PATH --listen IP --port N --shared-secret-file FILE
    # logs "listening on http://IP:PORT ..." (the real port with --port 0); SIGTERM -> exit 0
"""
