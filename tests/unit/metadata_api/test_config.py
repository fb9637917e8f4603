import pytest

from ovnmeta.core.errors import ConfigError
from ovnmeta.metadata_api import config, settings


def write(tmp_path, text, name="ovnmeta.ini"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_defaults_without_files():
    assert config.load() == settings.ApiSettings()


def test_metadata_api_section(tmp_path):
    vendor = tmp_path / "vendor.json"
    vendor.write_text('{"cloud-init": "#cloud-config\\n"}')
    path = write(
        tmp_path,
        "[metadata_api]\nmetadata_listen = 0.0.0.0\nmetadata_listen_port = 9775\n"
        f"db_path = {tmp_path}/i.sqlite3\nmetadata_proxy_shared_secret = s3cr3t\n"
        f"dhcp_domain =\nvendordata_jsonfile_path = {vendor}\nmetadata_cache_expiration = 0\n",
    )
    loaded = config.load([path])
    assert loaded == settings.ApiSettings(
        metadata_listen="0.0.0.0",
        metadata_listen_port=9775,
        db_path=f"{tmp_path}/i.sqlite3",
        metadata_proxy_shared_secret="s3cr3t",
        dhcp_domain="",
        vendor_data='{"cloud-init": "#cloud-config\\n"}',
        metadata_cache_expiration=0,
    )
    assert "s3cr3t" not in repr(loaded)
    assert config.as_dict(loaded)["metadata_proxy_shared_secret"] == "***"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("[DEFAULT]\nmetadata_proxy_shared_secret = agent\n", "agent"),
        ("[DEFAULT]\nmetadata_proxy_shared_secret = agent\n"
         "[neutron]\nmetadata_proxy_shared_secret = nova\n", "nova"),
        ("[neutron]\nmetadata_proxy_shared_secret = nova\n"
         "[metadata_api]\nmetadata_proxy_shared_secret = mine\n", "mine"),
        ("[metadata_api]\nmetadata_proxy_shared_secret =\n"
         "[neutron]\nmetadata_proxy_shared_secret = nova\n", ""),
    ],
)  # fmt: skip
def test_shared_secret_precedence(tmp_path, text, secret):
    assert config.load([write(tmp_path, text)]).metadata_proxy_shared_secret == secret


def test_overrides_and_secret_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    path = write(tmp_path, "[metadata_api]\nmetadata_listen_port = 1\n")
    loaded = config.load(
        [path], shared_secret_file=str(secret), metadata_listen_port=0, db_path=None
    )
    assert loaded.metadata_listen_port == 0
    assert loaded.metadata_proxy_shared_secret == "from-file"
    assert loaded.db_path == settings.DEFAULT_DB_PATH


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[metadata_api]\nmetadata_listen_port = 99999\n", "metadata_listen_port"),
        ("[metadata_api]\nmetadata_cache_expiration = -1\n", "metadata_cache_expiration"),
        ("[metadata_api\n", "config"),
    ],
)
def test_bad_values_name_the_option(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        config.load([write(tmp_path, text)])


def test_missing_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load([str(tmp_path / "nope.ini")])
    with pytest.raises(ConfigError, match="--shared-secret-file: cannot read"):
        config.load(shared_secret_file=str(tmp_path / "nope"))


def test_bad_vendor_data_file(tmp_path):
    vendor = tmp_path / "v.json"
    vendor.write_text("{nope")
    with pytest.raises(ConfigError, match=r"vendordata_jsonfile_path.*not valid JSON"):
        config.load(vendor_data_file=str(vendor))
    vendor.write_bytes(b"\xff")
    with pytest.raises(ConfigError, match="not UTF-8"):
        config.load(vendor_data_file=str(vendor))


def test_identity_options(tmp_path):
    text = "[metadata_api]\nidentity_key = /k.pem\nidentity_cert = /c.pem\nregion = north\n"
    loaded = config.load([write(tmp_path, text)])
    assert (loaded.identity_key, loaded.identity_cert, loaded.region) == (
        "/k.pem",
        "/c.pem",
        "north",
    )
    assert config.load().identity_key is None and config.load().region == "RegionOne"


def test_identity_key_without_certificate_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="identity_key and identity_cert"):
        config.load([write(tmp_path, "[metadata_api]\nidentity_key = /k.pem\n")])
