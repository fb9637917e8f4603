"""agent.allocator on this host's glibc: both calls are harmless to repeat."""

import ctypes

from ovnmeta.agent import allocator


def test_trim_and_arena_limit_run_on_glibc():
    assert ctypes.CDLL("libc.so.6").malloc_trim is not None
    allocator.limit_arenas()
    blocks = [bytearray(200_000) for _ in range(50)]  # above the mmap threshold or not
    del blocks
    allocator.trim()
    allocator.trim()
