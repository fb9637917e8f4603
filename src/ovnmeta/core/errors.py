"""Errors that reach the operator as one line.

    OvnmetaError                 base: str(exc) is the whole message, exit_code the process status
    ├── UsageError               bad input on the command line (unknown VM, overlapping CIDR, ...)
    ├── ConfigError              a configuration option with a wrong value (names the option)
    ├── DependencyError          a program or package the command needs is missing
    ├── LabError                 the lab could not do what was asked (daemon did not start, ...)
    ├── StoreError               the instance store (SQLite) cannot be read or written
    ├── SbError                  the southbound or local OVSDB could not be used
    └── DataplaneError           a host object could not be read or changed
        ├── NamespaceError       netns, veth, addresses (netlink)
        ├── OvsError             OVS ports (local OVSDB)
        └── EdgeError            the edge haproxy (config, start, reload)

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


class SbError(OvnmetaError):
    exit_code = 1


class DataplaneError(OvnmetaError):
    exit_code = 1


class NamespaceError(DataplaneError):
    pass


class OvsError(DataplaneError):
    pass


class EdgeError(DataplaneError):
    pass
