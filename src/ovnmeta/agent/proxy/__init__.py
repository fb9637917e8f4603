"""The metadata proxy: request parsing, instance lookup and Nova forwarding (pure), and the
aiohttp server on the UNIX socket (I/O)."""
