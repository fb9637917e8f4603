"""Serve neutron's API (`neutron.wsgi.api:application`) for the lab: run by the neutron venv's
interpreter as a script, never imported by ovnmeta (it loads neutron, which ovnmeta's venv
does not have).

    <neutron venv>/bin/python neutron_wsgi.py PORT_FILE --config-file neutron.conf ...

neutron 29.0.0 has no `neutron-server` command; its API is a WSGI application meant for uWSGI
or mod_wsgi. Neither is in the venv, and the lab needs one process with a handful of
concurrent requests, so the standard library's WSGI server with a thread per request does.
`ASGI_WORKERS=1` (set by the caller) tells neutron how many API workers there are; without it
every OVN event fails with "The Neutron API workers count is zero". The server binds an
ephemeral loopback port and writes it to PORT_FILE once the application is loaded: the file's
appearance means "ready". SIGTERM exits at once (oslo's own handler would swallow it).
"""

import os
import signal
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # neutron logs each request
        pass


def main() -> int:
    port_file, sys.argv[1:] = sys.argv[1], sys.argv[2:]  # neutron parses the rest
    from neutron.wsgi.api import application  # the neutron venv has it; ovnmeta has not

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    server = _ThreadingServer(("127.0.0.1", 0), _QuietHandler)
    server.set_app(application)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(f"{server.server_address[1]}\n")
    os.replace(tmp, port_file)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
