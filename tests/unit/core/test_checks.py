import pytest

from ovnmeta.core.checks import key_value
from ovnmeta.core.errors import UsageError


def test_key_value_splits_at_the_first_equals_sign():
    assert key_value("--meta", "role=web=1") == ("role", "web=1")
    assert key_value("--meta", "empty=") == ("empty", "")


@pytest.mark.parametrize("text", ["novalue", "=v"], ids=["no-equals", "no-key"])
def test_key_value_refuses_a_missing_key_naming_the_option(text):
    with pytest.raises(UsageError, match=r"^--key .*: expected KEY=VALUE$"):
        key_value("--key", text)
