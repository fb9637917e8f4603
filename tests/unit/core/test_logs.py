import logging

from ovnmeta.core import logs

NET = "f3dc8112-273e-4653-af3c-6069330ad350"


def test_network_logger_prefixes_lines_and_carries_the_network(caplog):
    caplog.set_level(logging.DEBUG)
    log = logs.for_network(NET, logging.getLogger("ovnmeta.test"))
    log.info("provisioned in %.0f ms", 12.3)
    log.warning("edge not updated: %s", "boom", extra={"attempt": 2})
    first, second = caplog.records
    assert first.getMessage() == "[net f3dc8112] provisioned in 12 ms"
    assert first.name == "ovnmeta.test" and first.network == NET
    assert second.getMessage() == "[net f3dc8112] edge not updated: boom"
    assert (second.network, second.attempt) == (NET, 2)
