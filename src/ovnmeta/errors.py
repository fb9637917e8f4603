"""Errors that reach the operator as one line.

    OvnmetaError                 base: str(exc) is the whole message, exit_code the process status
    ├── UsageError               bad input on the command line (unknown VM, overlapping CIDR, ...)
    ├── ConfigError              a configuration option with a wrong value (names the option)
    ├── DependencyError          a program or package the command needs is missing
    ├── LabError                 the lab could not do what was asked (daemon did not start, ...)
    └── StoreError               the instance store (SQLite) cannot be read or written

Anything else escaping a command is a bug and is shown with its traceback.
"""


class OvnmetaError(Exception):
    exit_code = 1


class UsageError(OvnmetaError):
    exit_code = 2


class ConfigError(OvnmetaError):
    exit_code = 2


class DependencyError(OvnmetaError):
    exit_code = 3


class LabError(OvnmetaError):
    exit_code = 1


class StoreError(OvnmetaError):
    exit_code = 1
