"""Prometheus metrics of the agent, on their own registry (several agents can live in one test
process), served on `[ovnmeta] metrics_host:metrics_port` when the port is not 0."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5)
PROVISION_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "ovnmeta_requests", "Metadata requests answered, by status code", ["code"], registry=r
        )
        self._by_code: dict[int, Counter] = {}
        self.latency = Histogram(
            "ovnmeta_request_seconds",
            "Time to answer a metadata request",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.networks = Gauge(
            "ovnmeta_networks_provisioned", "Networks served on this chassis", registry=r
        )
        self.failing = Gauge(
            "ovnmeta_networks_failing", "Networks whose last reconcile failed", registry=r
        )
        self.provision = Histogram(
            "ovnmeta_provision_seconds",
            "Time from an SB change to the network being served",
            buckets=PROVISION_BUCKETS,
            registry=r,
        )
        # An edge shard this agent ran had died and was started again: every guest connection
        # of the networks that shard served was cut. Adopting and reloading are not restarts.
        self.edge_restarts = Counter(
            "ovnmeta_edge_restarts",
            "Times the edge haproxy was found dead and started again",
            registry=r,
        )
        self.sb_connected = Gauge(
            "ovnmeta_sb_connected", "1 while the southbound connection is up", registry=r
        )

    def observe_request(self, status: int, seconds: float) -> None:
        counter = self._by_code.get(status)
        if counter is None:  # labels() formats and looks up under a lock: once per code
            counter = self._by_code[status] = self.requests.labels(code=str(status))
        counter.inc()
        self.latency.observe(seconds)

    def serve(self, host: str, port: int) -> None:
        if port:
            start_http_server(port, addr=host, registry=self.registry)
