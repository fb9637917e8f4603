"""The import rule (docs/architecture.md), checked transitively on every module.

    core  <-  agent, metadata_api  <-  deploy  <-  lab  <-  cli

A layer loads nothing of a layer to its right; `agent` and `metadata_api` never load each
other. Pure modules load no I/O library, even indirectly, and name none of the standard
library's I/O modules themselves. There are no exceptions.
"""

import pytest

from tests.support.imports import SRC, all_modules, direct_imports, loaded

LAYERS = {
    "ovnmeta.core": {"ovnmeta.agent", "ovnmeta.metadata_api", "ovnmeta.deploy", "ovnmeta.lab"},
    "ovnmeta.agent": {"ovnmeta.metadata_api", "ovnmeta.deploy", "ovnmeta.lab"},
    "ovnmeta.metadata_api": {"ovnmeta.agent", "ovnmeta.deploy", "ovnmeta.lab"},
    "ovnmeta.deploy": {"ovnmeta.lab"},
    "ovnmeta.lab": set(),
}
PURE = [
    "ovnmeta.core.errors",
    "ovnmeta.core.model",
    "ovnmeta.core.names",
    "ovnmeta.core.eui64",
    "ovnmeta.core.signing",
    "ovnmeta.core.checks",
    "ovnmeta.core.tables",
    "ovnmeta.agent.settings",
    "ovnmeta.agent.health",
    "ovnmeta.agent.seams",
    "ovnmeta.agent.sb.rows",
    "ovnmeta.agent.sb.index",
    "ovnmeta.agent.sb.interest",
    "ovnmeta.agent.sb.desired",
    "ovnmeta.agent.sb.changes",
    "ovnmeta.agent.sb.registration",
    "ovnmeta.agent.reconcile.actions",
    "ovnmeta.agent.reconcile.observed",
    "ovnmeta.agent.reconcile.plan",
    "ovnmeta.agent.reconcile.retry",
    "ovnmeta.agent.dataplane.haproxy_conf",
    "ovnmeta.agent.dataplane.edge_placement",
    "ovnmeta.agent.dataplane.rtnl_wire",
    "ovnmeta.agent.proxy.request",
    "ovnmeta.agent.proxy.lookup",
    "ovnmeta.agent.proxy.forward",
    "ovnmeta.agent.proxy.reply",
    "ovnmeta.agent.proxy.probe",
    "ovnmeta.agent.proxy.target",
    "ovnmeta.agent.proxy.admission",
    "ovnmeta.agent.proxy.loglimit",
    "ovnmeta.agent.proxy.tokens",
    "ovnmeta.agent.proxy.imds",
    "ovnmeta.metadata_api.model",
    "ovnmeta.metadata_api.paths",
    "ovnmeta.metadata_api.validate",
    "ovnmeta.metadata_api.render",
    "ovnmeta.metadata_api.codec",
    "ovnmeta.metadata_api.settings",
    "ovnmeta.metadata_api.identity",
    "ovnmeta.deploy.params",
    "ovnmeta.deploy.render",
    "ovnmeta.lab.topology",
    "ovnmeta.lab.addressing",
    "ovnmeta.lab.cloud_rows",
]
IO_LIBRARIES = ("oslo_config", "aiohttp", "ovsdbapp", "ovs", "pyroute2", "prometheus_client")
IO_STDLIB = {
    "asyncio", "os", "socket", "subprocess", "sqlite3", "threading", "random", "time",
}  # fmt: skip
# The healthcheck runs every 30 s on every compute: no SB client and no heavy library.
LIGHT = ["ovnmeta.agent.healthcheck", "ovnmeta.agent.cli", "ovnmeta.agent.health"]
HEAVY = ("ovnmeta.agent.sb", "ovnmeta.agent.dataplane", "ovsdbapp", "ovs", "aiohttp", "pyroute2")
# Inside the agent (style.md 5.3): the data plane knows no SB; the proxy only its Protocol.
INSIDE_AGENT = {
    "ovnmeta.agent.dataplane": ("ovnmeta.agent.sb",),
    "ovnmeta.agent.proxy": (
        "ovnmeta.agent.dataplane",
        "ovnmeta.agent.reconcile",
        "ovnmeta.agent.scheduler",
        "ovnmeta.agent.sb",
    ),
}

# The agent's loop reaches the host, the SB and HTTP only through its seams (agent.seams),
# implemented in agent.adapters: so it runs in unit tests on in-memory fakes.
LOOP = [
    "ovnmeta.agent.main",
    "ovnmeta.agent.reconciler",
    "ovnmeta.agent.sb_dispatch",
    "ovnmeta.agent.edge_batcher",
    "ovnmeta.agent.scheduler",
    "ovnmeta.agent.runtime",
    "ovnmeta.agent.status",
]
OUTSIDE = ("ovsdbapp", "ovs", "pyroute2", "aiohttp", "ovnmeta.agent.adapters")

MODULES = all_modules()


@pytest.fixture(scope="module")
def loads() -> dict[str, set[str]]:
    return loaded(MODULES)


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _layer(module: str) -> str | None:
    return next((p for p in LAYERS if _under(module, [p])), None)


def test_every_pure_module_exists():
    assert set(PURE) <= set(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_layers_load_only_to_their_left(loads, module):
    layer = _layer(module)
    if layer is None:  # ovnmeta, ovnmeta.cli, ovnmeta.__main__: the top
        return
    bad = {m for m in loads[module] if _under(m, LAYERS[layer] | {"ovnmeta.cli"})}
    assert not bad, f"{module} loads {sorted(bad)}"


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_load_no_io_library(loads, module):
    bad = {m for m in loads[module] if _under(m, IO_LIBRARIES)}
    assert not bad, f"{module} loads {sorted(bad)}"


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_name_no_io_module(module):
    path = SRC.joinpath(*module.split(".")).with_suffix(".py")
    bad = {m for m in direct_imports(path) if m.split(".")[0] in IO_STDLIB}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", LIGHT)
def test_healthcheck_stays_light(loads, module):
    bad = {m for m in loads[module] if _under(m, HEAVY)}
    assert not bad, f"{module} loads {sorted(bad)}"


@pytest.mark.parametrize("package", sorted(INSIDE_AGENT))
def test_agent_packages_keep_their_boundaries(loads, package):
    for module in (m for m in MODULES if _under(m, [package])):
        bad = {m for m in loads[module] if _under(m, INSIDE_AGENT[package])}
        assert not bad, f"{module} loads {sorted(bad)}"


@pytest.mark.parametrize("module", LOOP)
def test_agent_loop_reaches_the_outside_only_through_seams(loads, module):
    bad = {m for m in loads[module] if _under(m, OUTSIDE)}
    assert not bad, f"{module} loads {sorted(bad)}"
