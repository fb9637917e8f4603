"""Shared values for the metadata API tests: one well-formed instance and its signature."""

from collections.abc import Callable
from typing import Any

import pytest

from ovnmeta.metadata_api import model

UUID = "b65cee2f-8c69-4aeb-be2f-f79742548fc2"
SECRET = "s3cr3t"
SIGNATURE = "823491c9c66985fac0685c45d8eda8869d581ff62c4661479451ee51e2946737"  # contract vector
PROJECT = "3f6a1b7c0d8e4f5a9b2c1d0e9f8a7b6c"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f me@lab"


def build_record(**overrides: Any) -> model.InstanceRecord:
    fields: dict[str, Any] = {
        "uuid": UUID,
        "name": "vm1",
        "hostname": "vm1",
        "project_id": PROJECT,
        "availability_zone": "nova",
        "key_pairs": (model.KeyPair("lab-key", PUBKEY),),
        "user_data": b"#cloud-config\nhostname: vm1\n",
        "metadata": (("role", "web"),),
        "vifs": (
            model.Vif(
                mac="fa:16:3e:11:22:33",
                network_id="0f0e0d0c-0b0a-0908-0706-050403020100",
                port_id="a1b2c3d4-e5f6-4711-8899-aabbccddeeff",
                mtu=1442,
                fixed_ips=(model.FixedIp("10.0.0.11", 24, gateway="10.0.0.1", dns=("10.0.0.2",)),),
            ),
        ),
    }
    fields.update(overrides)
    return model.InstanceRecord(**fields)


@pytest.fixture
def record() -> model.InstanceRecord:
    return build_record()


@pytest.fixture
def make_record() -> Callable[..., model.InstanceRecord]:
    return build_record
