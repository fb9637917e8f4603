#!/bin/sh
# /usr/local/bin/haproxy in the ovnmeta image (ahead of /usr/sbin/haproxy in PATH).
#
# The agent starts ONE haproxy for all networks (the edge) in its own session. In a container,
# that is not enough to outlive the container: `podman stop` kills every process in the
# container's cgroup (runc/crun `kill --all`, since the container shares the host PID
# namespace). So before becoming haproxy, move into a cgroup of our own on every mounted
# hierarchy: /sys/fs/cgroup/ovnmeta-edge (cgroup v2), or /sys/fs/cgroup/<controller>/ovnmeta-edge
# (v1 and hybrid). The container then stops, restarts or is replaced without touching the edge;
# the next agent adopts it through the pid file and master socket under state_path.
#
# Needs --cgroupns=host and a writable /sys/fs/cgroup (--privileged). Set OVNMETA_EDGE_CGROUP
# to another name, or to "" to keep the edge inside the container (it then dies with it).
# haproxy re-executes itself on reload, which runs this script again: moving into the cgroup
# it is already in is a no-op.
set -eu
name=${OVNMETA_EDGE_CGROUP-ovnmeta-edge}
if [ -n "$name" ]; then
    for root in /sys/fs/cgroup /sys/fs/cgroup/*; do
        [ -f "$root/cgroup.procs" ] || continue
        dir=$root/$name
        mkdir -p "$dir" 2>/dev/null || continue
        if [ -f "$dir/cpuset.cpus" ] && [ -z "$(cat "$dir/cpuset.cpus")" ]; then
            cat "$root/cpuset.cpus" >"$dir/cpuset.cpus"   # cgroup v1 cpuset starts empty
            cat "$root/cpuset.mems" >"$dir/cpuset.mems"
        fi
        echo $$ >"$dir/cgroup.procs" 2>/dev/null \
            || echo "ovnmeta edge: cannot join $dir; the edge will stop with the container" >&2
    done
fi
exec /usr/sbin/haproxy "$@"
