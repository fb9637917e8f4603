"""Host side: namespaces, veths, OVS ports and the edge haproxy. `haproxy_conf` is pure; the
rest do I/O and decide nothing (they apply actions)."""
