#!/bin/sh
# The ovnmeta agent container as one `podman run` line: the same container as
# ovnmeta-agent.container (keep the two in step; tests/unit/deploy/test_units.py compares the
# volumes). Extra arguments go to `podman run` before the image (e.g. --rm, --env ...).
#
# Environment (defaults are the production paths):
#   IMAGE NAME                          image and container name
#   OVNMETA_CONFIG_DIR OVNMETA_STATE_DIR OVS_RUN_DIR OVN_RUN_DIR   host side of the mounts
#   COMMAND                             what the container runs (default: the agent)
set -eu
IMAGE=${IMAGE:-localhost/ovnmeta:0.1.0}
NAME=${NAME:-ovnmeta_agent}
COMMAND=${COMMAND:-neutron-ovn-metadata-agent}
mkdir -p /run/netns "${OVNMETA_STATE_DIR:-/var/lib/neutron}" "${OVNMETA_CONFIG_DIR:-/etc/neutron.conf.d}"
# Podman cannot bind-mount a missing /run/netns; `ip netns add` makes it a shared mount point.
mountpoint -q /run/netns || { ip netns add ovnmeta_netns_init && ip netns delete ovnmeta_netns_init; }
# haproxy logs to syslog; /dev/log exists wherever journald or rsyslog runs.
if [ -S /dev/log ]; then set -- --volume /dev/log:/dev/log "$@"; fi
# shellcheck disable=SC2086 # COMMAND is a command line
exec podman run --name "$NAME" --detach --restart=always \
    --network=host --pid=host --cgroupns=host --privileged \
    --volume "${OVNMETA_CONFIG_DIR:-/etc/neutron.conf.d}:/etc/neutron.conf.d:ro,z" \
    --volume "${OVNMETA_STATE_DIR:-/var/lib/neutron}:/var/lib/neutron:shared,z" \
    --volume /run/netns:/run/netns:shared \
    --volume "${OVS_RUN_DIR:-/run/openvswitch}:/run/openvswitch:z" \
    --volume "${OVN_RUN_DIR:-/run/ovn}:/run/ovn:z" \
    --health-cmd 'ovnmeta healthcheck' --health-interval 30s --health-timeout 10s \
    --health-start-period 60s --health-retries 3 \
    "$@" "$IMAGE" $COMMAND
