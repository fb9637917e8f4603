#!/usr/bin/env bash
# Smoke test of the image with the production run spec (podman-run-agent.sh: host network, PID
# and cgroup namespaces, privileged, /run/netns shared, state and OVSDB socket mounts). As root:
#
#   IMAGE=localhost/ovnmeta:0.1.0 deploy/container/smoke.sh
#
# 1. the image runs: ovnmeta, the legacy command name, haproxy with namespace support;
# 2. a network namespace created inside the container (pyroute2, as the agent does) is visible on
#    the host: /run/netns is shared;
# 3. the local OVSDB socket works from inside (a private ovsdb-server mounted on /run/openvswitch);
# 4. the edge haproxy started inside the container, through /usr/local/bin/haproxy, keeps serving
#    inside that namespace after the container is stopped AND removed, and a new container sees
#    it (pid file, stats socket) and replaces it the way the agent reloads (-x stats.sock -sf),
#    the new process out of the container's cgroup too;
# 5. control: with OVNMETA_EDGE_CGROUP="" (no cgroup move) the edge dies with its container.
#
# On a VM whose rlimits podman cannot raise ("error setting rlimit type 7"), pass the
# containers.conf the lab writes (src/ovnmeta/lab/container.py) as CONTAINERS_CONF.
#
# Everything gets a unique name (TAG) and is removed on exit. Nothing under /var/lib/neutron,
# /etc/neutron.conf.d or /run/openvswitch of the host is touched.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export IMAGE=${IMAGE:-localhost/ovnmeta:0.1.0}
tag=${TAG:-omsmoke$$}
work=$(mktemp -d "/var/tmp/$tag.XXXXXX")
ns=$tag-ns            # not ovnmeta-*: a running agent would treat that as its own
cgroup=$tag-edge
edge_pids=()

log() { printf '%s smoke: %s\n' "$(date +%T)" "$*"; }
fail() { log "FAIL: $*"; exit 1; }

cleanup() {
    set +e
    for c in "$tag-a" "$tag-b" "$tag-c"; do podman rm -f -t 1 "$c" >/dev/null 2>&1; done
    for pid in "${edge_pids[@]}"; do kill "$pid" 2>/dev/null; done
    [ -f "$work/ovs/pid" ] && kill "$(cat "$work/ovs/pid")" 2>/dev/null
    sleep 1
    ip netns delete "$ns" 2>/dev/null
    for root in /sys/fs/cgroup /sys/fs/cgroup/*; do
        [ -d "$root/$cgroup" ] && rmdir "$root/$cgroup" 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/conf" "$work/state/ovnmeta/edge" "$work/ovs" "$work/ovn"
export OVNMETA_CONFIG_DIR=$work/conf OVNMETA_STATE_DIR=$work/state
export OVS_RUN_DIR=$work/ovs OVN_RUN_DIR=$work/ovn

run() {  # run NAME [podman args]: the production spec, a shell instead of the agent
    local name=$1; shift
    NAME=$name COMMAND="sleep infinity" "$here/podman-run-agent.sh" \
        --restart=no --env "OVNMETA_EDGE_CGROUP=$cgroup" "$@" >/dev/null
}
in_ctr() { local name=$1; shift; podman exec "$name" "$@"; }

log "1. image $IMAGE"
podman image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$IMAGE"
cat >"$work/params.yaml" <<EOF
shared_secret: $(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
agent:
  controller_ips: [192.0.2.11, 192.0.2.12, 192.0.2.13]
  metadata_host: 192.0.2.10
EOF
podman run --rm --volume "$work:/w:z" "$IMAGE" ovnmeta config render --role compute \
    --params /w/params.yaml --out /w/conf --conf-d
run "$tag-a"
# The agent's own config loader, with no arguments, reads the mounted /etc/neutron.conf.d.
in_ctr "$tag-a" /opt/ovnmeta/bin/python -c "
from ovnmeta.agent import config
s = config.load([])
assert s.sb.connection_string == 'tcp:192.0.2.11:6642,tcp:192.0.2.12:6642,tcp:192.0.2.13:6642'
assert str(s.ovs.ovsdb_connection) == 'unix:/run/openvswitch/db.sock'
print('   ok: rendered conf.d loads in the container:', s.sb.connection_string)
"
in_ctr "$tag-a" ovnmeta --version
in_ctr "$tag-a" sh -c 'haproxy -vv | grep -q "Built with network namespace support"' \
    || fail "haproxy without namespace support"
in_ctr "$tag-a" sh -c 'command -v neutron-ovn-metadata-agent && command -v networking-ovn-metadata-agent'

log "2. namespace created in the container is visible on the host"
in_ctr "$tag-a" /opt/ovnmeta/bin/python -c "from pyroute2 import netns; netns.create('$ns')"
ip netns list | grep -qw "$ns" || fail "namespace $ns not visible on the host"
ip netns exec "$ns" ip link set lo up
log "   ok: $(ip netns list | grep -w "$ns")"

log "3. local OVSDB socket from inside the container"
ovsdb-tool create "$work/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$work/ovs/conf.db" --remote="punix:$work/ovs/db.sock" --pidfile="$work/ovs/pid" \
    --unixctl="$work/ovs/ctl" --detach --no-chdir --log-file="$work/ovs/ovsdb-server.log"
in_ctr "$tag-a" /opt/ovnmeta/bin/python -c "
import ovs.jsonrpc, ovs.stream
err, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open('unix:/run/openvswitch/db.sock'))
assert not err, err
rpc = ovs.jsonrpc.Connection(stream)
err, reply = rpc.transact_block(ovs.jsonrpc.Message.create_request('list_dbs', []))
assert not err, err
print('   ok: list_dbs ->', reply.result)
"

log "4. the edge outlives its container"
cat >"$work/state/ovnmeta/edge/haproxy.cfg" <<EOF
global
    maxconn 64
    stats socket /var/lib/neutron/ovnmeta/edge/stats.sock mode 600 level admin expose-fd listeners
defaults
    mode http
    timeout connect 5s
    timeout client 5s
    timeout server 5s
frontend $ns
    bind 127.0.0.1:8080 namespace $ns
    http-request return status 200 content-type text/plain string "edge ok\n"
EOF
edge() {  # edge CONTAINER [OLD]: start the edge in its own session, as the agent does; with OLD,
    # take its listeners over and tell it to leave (the agent's reload: no master process)
    in_ctr "$1" setsid haproxy -D -f /var/lib/neutron/ovnmeta/edge/haproxy.cfg \
        -p /var/lib/neutron/ovnmeta/edge/haproxy.pid \
        ${2:+-x /var/lib/neutron/ovnmeta/edge/stats.sock -sf $2}
}
edge "$tag-a"
sleep 1
pid=$(head -1 "$work/state/ovnmeta/edge/haproxy.pid")
edge_pids+=("$pid")
log "   edge pid $pid, cgroups: $(grep -E '^(0::|[0-9]+:pids:)' "/proc/$pid/cgroup" | tr '\n' ' ')"
grep -q libpod "/proc/$pid/cgroup" && fail "edge still in a container cgroup: $(cat "/proc/$pid/cgroup")"
ip netns exec "$ns" curl -fsS http://127.0.0.1:8080/ | grep -q "edge ok" || fail "edge not serving"
podman stop -t 5 "$tag-a" >/dev/null
podman rm "$tag-a" >/dev/null
kill -0 "$pid" 2>/dev/null || fail "edge $pid died with the container"
ip netns exec "$ns" curl -fsS http://127.0.0.1:8080/ | grep -q "edge ok" \
    || fail "edge not serving after the container was removed"
log "   ok: container stopped and removed, edge $pid still serves in $ns"
run "$tag-b"
in_ctr "$tag-b" /opt/ovnmeta/bin/python -c "
import socket
pid = int(open('/var/lib/neutron/ovnmeta/edge/haproxy.pid').read().split()[0])
s = socket.socket(socket.AF_UNIX); s.connect('/var/lib/neutron/ovnmeta/edge/stats.sock')
s.sendall(b'show info\n'); out = s.recv(65536).decode()
assert f'Pid: {pid}' in out, out
print('   ok: new container sees edge', pid, 'through its stats socket')
"
edge "$tag-b" "$pid"  # a reload from the new container, through the wrapper
sleep 1
new=$(head -1 "$work/state/ovnmeta/edge/haproxy.pid")
edge_pids+=("$new")
[ "$new" != "$pid" ] || fail "reload did not start a new edge"
grep -q libpod "/proc/$new/cgroup" && fail "reloaded edge in a container cgroup: $(cat "/proc/$new/cgroup")"
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
kill -0 "$pid" 2>/dev/null && fail "old edge $pid did not leave after the reload"
ip netns exec "$ns" curl -fsS http://127.0.0.1:8080/ | grep -q "edge ok" || fail "edge not serving after reload"
log "   ok: reloaded from the new container: edge $new serves, $pid left"
podman rm -f -t 1 "$tag-b" >/dev/null
kill -0 "$new" || fail "reloaded edge $new died with the second container"
kill "$new"; sleep 1

log "5. control: without the cgroup move the edge dies with its container"
NAME=$tag-c COMMAND="sleep infinity" "$here/podman-run-agent.sh" --restart=no \
    --env OVNMETA_EDGE_CGROUP= >/dev/null
rm -f "$work/state/ovnmeta/edge/haproxy.pid"
edge "$tag-c"
sleep 1
pid=$(head -1 "$work/state/ovnmeta/edge/haproxy.pid")
edge_pids+=("$pid")
grep -q libpod "/proc/$pid/cgroup" || fail "control: edge not in the container cgroup"
podman stop -t 5 "$tag-c" >/dev/null
for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$pid" 2>/dev/null; then
    fail "control: edge $pid survived without the cgroup move: $(cat "/proc/$pid/cgroup")"
fi
log "   ok: edge $pid was killed with the container (so the move is what keeps it)"
log "PASS"
