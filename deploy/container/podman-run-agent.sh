#!/bin/sh
# The ovnmeta agent container as one `podman run` line: the same container as
# ovnmeta-agent.container (keep the two in step; tests/unit/deploy/test_units.py compares the
# volumes). IMAGE and NAME may be overridden; extra arguments are passed to podman run before
# the image (e.g. --rm, -d).
set -eu
IMAGE=${IMAGE:-localhost/ovnmeta:0.1.0}
NAME=${NAME:-ovnmeta_agent}
mkdir -p /run/netns /var/lib/neutron /etc/neutron.conf.d
mountpoint -q /run/netns || { ip netns add ovnmeta_netns_init && ip netns delete ovnmeta_netns_init; }
exec podman run --name "$NAME" --detach --restart=always \
    --network=host --pid=host --cgroupns=host --privileged \
    --volume /etc/neutron.conf.d:/etc/neutron.conf.d:ro,z \
    --volume /var/lib/neutron:/var/lib/neutron:shared,z \
    --volume /run/netns:/run/netns:shared \
    --volume /run/openvswitch:/run/openvswitch:z \
    --volume /run/ovn:/run/ovn:z \
    --volume /dev/log:/dev/log \
    --health-cmd 'ovnmeta healthcheck' --health-interval 30s --health-timeout 10s \
    --health-start-period 60s --health-retries 3 \
    "$@" "$IMAGE" neutron-ovn-metadata-agent
