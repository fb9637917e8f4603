"""Integration tests on the real lab: root, OVS/OVN binaries, real namespaces.

Every lab gets a unique prefix so that two test runs (or a test run and a demo) can share
the machine; each fixture tears its lab down in `finally`, and a failing test prints the
tail of the lab's daemon logs.
"""

import os

import pytest

from ovnmeta.lab.lab import Lab

from .labkit import dump_logs, unique_prefix


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="lab tests need root (network namespaces, OVS)")
    for item in items:
        if "lab" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        for lab in getattr(item, "funcargs", {}).values():
            if isinstance(lab, Lab):
                dump_logs(lab)
    return report


@pytest.fixture
def new_lab_prefix():
    """A prefix for a test that drives `ovnmeta lab` itself; torn down whatever happens."""
    prefix = unique_prefix()
    try:
        yield prefix
    finally:
        Lab(prefix).down()
