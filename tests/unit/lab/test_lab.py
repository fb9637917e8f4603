import pytest

from ovnmeta.core.errors import DependencyError
from ovnmeta.lab.lab import check_programs


def test_missing_program_names_its_debian_package():
    with pytest.raises(DependencyError, match="install the Debian package ovn-imaginary"):
        check_programs({"ovn-no-such-tool": "ovn-imaginary"})
