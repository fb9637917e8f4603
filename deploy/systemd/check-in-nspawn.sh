#!/usr/bin/env bash
# Check the units under a real systemd, even on a host whose PID 1 is not systemd: boot a Debian
# 12 rootfs (the ovnmeta image plus systemd) with systemd-nspawn --private-network and drive it.
# As root, after deploy/container/build.sh:
#
#   IMAGE=localhost/ovnmeta:0.1.0 deploy/systemd/check-in-nspawn.sh
#
# `ovnmeta` is replaced in the throwaway rootfs by a stand-in that does the agent's privileged
# work (pyroute2 netns + address, one haproxy bound inside the namespace on 169.254.169.254:80,
# started in its own session, adopted if already running), so the checks exercise the real units:
#   - the hardening still allows netns, netlink, port 80 inside a namespace;
#   - Wants= pulls in OVS and ovn-controller; restarting or stopping them leaves the agent running;
#   - `systemctl restart` and `stop` leave the edge serving (KillMode=process), the next agent
#     adopts it, `systemctl kill` removes it;
#   - the metadata API runs as the sysusers user with its StateDirectory;
#   - systemd-analyze security exposure of both units.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
IMAGE=${IMAGE:-localhost/ovnmeta:0.1.0}
tag=${TAG:-omnspawn$$}
work=$(mktemp -d "/var/tmp/$tag.XXXXXX")
root=$work/rootfs
nspawn_pid=

log() { printf '%s nspawn-check: %s\n' "$(date +%T)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }
cleanup() {
    set +e
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        inside systemctl poweroff >/dev/null 2>&1
        for _ in $(seq 20); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
        kill "$nspawn_pid" 2>/dev/null
    fi
    podman rm -f "$tag" >/dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT
inside() { nsenter -t "$leader" -a "$@"; }
get() {  # GET http://169.254.169.254/ from inside the namespace
    inside ip netns exec ovnmeta-stubnet /opt/ovnmeta/bin/python -c \
        'import urllib.request; print(urllib.request.urlopen("http://169.254.169.254/", timeout=3).read().decode())'
}
prop() { inside systemctl show -P "$2" "$1"; }

log "rootfs from $IMAGE, plus systemd"
mkdir -p "$root"
podman create --name "$tag" "$IMAGE" true >/dev/null
podman export "$tag" | tar -C "$root" -x
podman rm "$tag" >/dev/null
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends systemd systemd-sysv dbus >/dev/null' >/dev/null 2>&1 \
    || fail "apt-get install systemd in the rootfs"

install -m644 "$here/ovnmeta-agent.service" "$here/ovnmeta-metadata-api.service" \
    "$root/etc/systemd/system/"
install -m644 "$here/ovnmeta.sysusers" "$root/usr/lib/sysusers.d/ovnmeta.conf"
for unit in ovn-controller openvswitch-switch; do
    printf '[Unit]\nDescription=stand-in %s\n[Service]\nExecStart=/bin/sleep infinity\n' "$unit" \
        >"$root/etc/systemd/system/$unit.service"
done
mkdir -p "$root/etc/neutron" "$root/etc/ovnmeta"
echo "[DEFAULT]" >"$root/etc/neutron/neutron_ovn_metadata_agent.ini"
echo "[metadata_api]" >"$root/etc/ovnmeta/ovnmeta_metadata_api.ini"
chmod 640 "$root/etc/ovnmeta/ovnmeta_metadata_api.ini"
cat >"$root/opt/ovnmeta/bin/ovnmeta" <<'EOF'
#!/opt/ovnmeta/bin/python
"""Stand-in for `ovnmeta agent` / `ovnmeta metadata-api`: the same privileged work."""
import http.server, os, signal, subprocess, sys, time
print("stub argv", sys.argv[1:], "uid", os.getuid(), flush=True)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
if sys.argv[1] == "metadata-api":
    assert sys.argv[2:] == ["--config-file", "/etc/ovnmeta/ovnmeta_metadata_api.ini"], sys.argv
    open(sys.argv[3]).read()  # 0640 root:ovnmeta, as README.md says to install it
    open("/var/lib/ovnmeta/instances.sqlite3", "a").close()
    http.server.HTTPServer(("127.0.0.1", 8775), http.server.SimpleHTTPRequestHandler).serve_forever()
assert sys.argv[1:] == ["agent", "--config-file", "/etc/neutron/neutron_ovn_metadata_agent.ini"]
from pyroute2 import NetNS, netns
NS = "ovnmeta-stubnet"
if NS not in netns.listnetns():
    netns.create(NS)
with NetNS(NS) as ns:
    lo = ns.link_lookup(ifname="lo")[0]
    ns.link("set", index=lo, state="up")
    if not ns.get_addr(index=lo, address="169.254.169.254"):
        ns.addr("add", index=lo, address="169.254.169.254", prefixlen=32)
edge = "/var/lib/neutron/ovnmeta/edge"
os.makedirs(edge, exist_ok=True)
cfg, pidfile = f"{edge}/haproxy.cfg", f"{edge}/haproxy.pid"
with open(cfg, "w") as f:
    f.write(f"""global
    maxconn 64
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend {NS}
    bind 169.254.169.254:80 namespace {NS}
    http-request return status 200 content-type text/plain string "edge ok"
""")
def alive():
    try:
        pid = int(open(pidfile).read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None
pid = alive()
if pid:
    print("adopted edge", pid, flush=True)
else:
    subprocess.run(["/usr/sbin/haproxy", "-D", "-p", pidfile,
                    "-f", cfg], check=True, start_new_session=True)
    print("started edge", alive(), flush=True)
while True:
    time.sleep(3600)
EOF
chmod 755 "$root/opt/ovnmeta/bin/ovnmeta"

log "boot"
systemd-nspawn -D "$root" -b --private-network --register=no --keep-unit -M "$tag" \
    >"$work/console.log" 2>&1 </dev/null &
nspawn_pid=$!
leader=
for _ in $(seq 60); do
    leader=$(pgrep -P "$nspawn_pid" | head -1 || true)
    if [ -n "$leader" ]; then
        state=$(nsenter -t "$leader" -a systemctl is-system-running 2>/dev/null || true)
        case $state in running | degraded) break ;; esac
    fi
    sleep 0.5
done
[ -n "$leader" ] || fail "container did not boot: $(tail -5 "$work/console.log")"
inside systemd-sysusers >/dev/null
inside chgrp ovnmeta /etc/ovnmeta/ovnmeta_metadata_api.ini

log "1. start: hardening allows netns, netlink, port 80 in a namespace; Wants= pulls in OVS/OVN"
inside systemctl start ovnmeta-agent
sleep 2
[ "$(prop ovnmeta-agent ActiveState)" = active ] || fail "agent not active"
for unit in ovn-controller openvswitch-switch; do
    [ "$(prop "$unit" ActiveState)" = active ] || fail "$unit not pulled in"
done
get | grep -q "edge ok" || fail "edge not serving"
main=$(prop ovnmeta-agent MainPID)
log "   ok: agent $main, edge serving on 169.254.169.254:80 in ovnmeta-stubnet"

log "2. systemctl restart ovnmeta-agent: the edge keeps serving and is adopted"
inside systemctl restart ovnmeta-agent
sleep 2
get | grep -q "edge ok" || fail "edge not serving after restart"
inside journalctl -u ovnmeta-agent --no-pager -o cat | grep -q "adopted edge" || fail "edge not adopted"
main=$(prop ovnmeta-agent MainPID)
log "   ok: new agent $main adopted the edge"

log "3. restarting and stopping ovn-controller and OVS leaves the agent running"
inside systemctl restart ovn-controller
inside systemctl stop ovn-controller openvswitch-switch
sleep 1
[ "$(prop ovnmeta-agent MainPID)" = "$main" ] || fail "agent was restarted or stopped"
log "   ok: agent $main untouched"

log "4. systemctl stop leaves the edge; systemctl kill removes it"
inside systemctl stop ovnmeta-agent
sleep 1
get | grep -q "edge ok" || fail "edge gone after stop"
inside systemctl kill ovnmeta-agent
sleep 1
if get >/dev/null 2>&1; then fail "edge still serving after systemctl kill"; fi
log "   ok"

log "5. metadata API: sysusers user, StateDirectory, full sandbox"
inside systemctl start ovnmeta-metadata-api
sleep 2
[ "$(prop ovnmeta-metadata-api ActiveState)" = active ] || fail "metadata API not active"
inside /opt/ovnmeta/bin/python -c \
    'import urllib.request; assert urllib.request.urlopen("http://127.0.0.1:8775/", timeout=3).status == 200'
owner=$(inside stat -c %U /var/lib/ovnmeta/instances.sqlite3)
[ "$owner" = ovnmeta ] || fail "database owned by $owner"
log "   ok: runs as ovnmeta, database in /var/lib/ovnmeta"

log "6. exposure (systemd-analyze security)"
for unit in ovnmeta-agent ovnmeta-metadata-api; do
    inside systemd-analyze security --no-pager "$unit" | tail -1
done
log "PASS"
