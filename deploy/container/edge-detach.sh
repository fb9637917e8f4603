#!/bin/sh
# /usr/local/bin/haproxy in the ovnmeta image (ahead of /usr/sbin/haproxy in PATH), and the same
# file as /usr/local/bin/ovnmeta-detach: `ovnmeta-detach COMMAND...` joins the cgroup, then execs
# COMMAND. The agent starts its listening-socket holder through it (OVNMETA_DETACH in the image):
# the holder must outlive the container too, or requests get 503 until the next agent is up.
#
# The agent starts ONE haproxy for all networks (the edge) in its own session. In a container
# that is not enough to outlive the container: `podman stop` kills every process in the
# container's cgroup (runc/crun `kill --all`, since the container shares the host PID
# namespace). So before becoming haproxy, join a cgroup of our own at the root of every cgroup
# hierarchy of the host: <hierarchy>/ovnmeta-edge. The container can then stop, restart or be
# replaced without touching the edge; the next agent adopts it through the pid files and stats
# socket under state_path.
#
# Inside the container /sys/fs/cgroup shows only the container's own cgroup (cgroup v1 even
# with --cgroupns=host), so each hierarchy is mounted afresh on a temporary directory: with
# --cgroupns=host its root is the host's root. Needs --cgroupns=host and --privileged.
# OVNMETA_EDGE_CGROUP names the cgroup; "" keeps the edge in the container (it then dies with it).
# Every reload of the edge starts a new haproxy through this script (from the agent, inside the
# container's cgroup): each one moves itself out before it execs haproxy; joining the cgroup
# it is already in is a no-op.
set -eu
name=${OVNMETA_EDGE_CGROUP-ovnmeta-edge}

warn() { echo "ovnmeta edge: $*; ${0##*/} will stop with its container" >&2; }

join() {  # join ROOT: create ROOT/$name and move this process (soon haproxy) into it
    dir=$1/$name
    mkdir -p "$dir" || { warn "cannot create $dir"; return 0; }
    if [ -f "$dir/cpuset.cpus" ] && [ -z "$(cat "$dir/cpuset.cpus")" ]; then
        cat "$1/cpuset.cpus" >"$dir/cpuset.cpus"   # a cgroup v1 cpuset starts empty
        cat "$1/cpuset.mems" >"$dir/cpuset.mems"
    fi
    echo $$ >"$dir/cgroup.procs" || warn "cannot join $dir"
}

# One line per hierarchy: "cgroup2 -" or "cgroup <controllers or name=...>".
hierarchies() {
    awk '{
        for (i = 7; $i != "-"; i++) ;
        type = $(i + 1); n = split($(i + 3), o, ","); opts = ""; named = 0; ctl = 0
        if (type == "cgroup2") { print "cgroup2 -"; next }
        if (type != "cgroup") next
        for (j = 1; j <= n; j++) {
            if (o[j] == "rw" || o[j] == "ro") continue
            if (o[j] ~ /^name=/) named = 1; else if (o[j] !~ /^(xattr|noprefix|clone_children|release_agent=.*|cpuset_v2_mode)$/) ctl = 1
            opts = opts (opts == "" ? "" : ",") o[j]
        }
        if (named && !ctl) opts = "none," opts
        print "cgroup " opts
    }' /proc/self/mountinfo
    # Containers on cgroup v1 hosts do not get the unified hierarchy mounted; join it anyway.
    if grep -qw cgroup2 /proc/filesystems; then echo "cgroup2 -"; fi
}

if [ -n "$name" ]; then
    tmp=$(mktemp -d /tmp/ovnmeta-edge-cgroup.XXXXXX)
    hierarchies | sort -u | while read -r type opts; do
        if [ "$type" = cgroup2 ]; then
            mount -t cgroup2 cgroup2 "$tmp" 2>/dev/null || { warn "cannot mount cgroup2"; continue; }
        else
            mount -t cgroup -o "$opts" cgroup "$tmp" 2>/dev/null \
                || { warn "cannot mount cgroup $opts"; continue; }
        fi
        join "$tmp"
        umount "$tmp"
    done
    rmdir "$tmp"
fi
if [ "${0##*/}" != haproxy ]; then exec "$@"; fi
exec /usr/sbin/haproxy "$@"
