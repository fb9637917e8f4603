import pytest

from ovnmeta.metadata_api import paths


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", paths.Root()),
        ("", paths.Root()),
        ("//", paths.Root()),
        ("/..", paths.Root()),
        ("/latest/..", paths.Root()),
        ("/latest/meta-data/", paths.Document(("ec2", "latest", "meta-data"))),
        ("/latest/meta-data", paths.Document(("ec2", "latest", "meta-data"))),
        ("/ec2/latest/meta-data", paths.Document(("ec2", "latest", "meta-data"))),
        ("//latest//meta-data/./", paths.Document(("ec2", "latest", "meta-data"))),
        ("/openstack", paths.Document(("openstack",))),
        ("/openstack/", paths.Document(("openstack",))),
        ("/openstack/latest/../../etc/passwd", paths.Document(("ec2", "etc", "passwd"))),
        ("/../../../etc/passwd", paths.Document(("ec2", "etc", "passwd"))),
        ("/openstack/latest/password", paths.Password("2025-04-04")),
        ("/openstack/latest/password/", paths.Password("2025-04-04")),
        ("/openstack/2013-04-04/password", paths.Password("2013-04-04")),
        ("/openstack/2012-08-10/password", paths.Document(("openstack", "2012-08-10", "password"))),
        ("/openstack/2099-01-01/password", paths.Document(("openstack", "2099-01-01", "password"))),
        ("/" + "a" * 2000, paths.NotFound()),
    ],
)
def test_route(raw, expected):
    assert paths.route(raw) == expected


def test_versions_follow_the_contract():
    assert paths.EC2_LATEST == "2009-04-04"
    assert paths.OPENSTACK_LATEST == "2025-04-04"
    assert paths.openstack_version("latest") == "2025-04-04"
    assert paths.openstack_version("2018-08-27") == "2018-08-27"
    assert paths.openstack_version("2019-01-01") is None
    assert paths.ec2_version("2016-09-02") is None
