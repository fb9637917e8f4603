import subprocess
import sys

from ovnmeta import cli


def subcommands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_every_registered_subcommand_is_in_the_table():
    assert subcommands(cli.build_parser()) == set(cli.COMMANDS)


def test_one_command_registers_only_its_own_module():
    assert subcommands(cli.build_parser("lab")) == {"lab"}
    assert subcommands(cli.build_parser("agent")) == {"agent", "status"}


def test_the_agent_command_imports_no_lab_or_deploy_code():
    probe = (
        "import sys; from ovnmeta import cli; cli.build_parser('agent'); "
        "print(sorted(m for m in sys.modules if m.startswith(('ovnmeta.lab', 'ovnmeta.deploy'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_running_agent_imports_pyroute2_only_to_change_the_host():
    """pyroute2 costs ~0.2 s of CPU to import; a restart with everything in place never
    opens a netlink socket through it (docs/agent.md, "Start-up, measured")."""
    probe = (
        "import sys; from ovnmeta import cli; cli.build_parser('agent'); "
        "import ovnmeta.agent.main, ovnmeta.agent.adapters; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pyroute2'))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
