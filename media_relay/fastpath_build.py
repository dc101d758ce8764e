"""Builds `media_relay._fastpath` (the C send loop in fastpath.c) with cffi: `python -m
media_relay.fastpath_build`, run by `make` after the requirements are installed. Needs a C
compiler; without one the relay uses its pure-Python loop (see media_relay/fastpath.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent

CDEF = """
struct relay_target {
    void *srtp;
    int fd;
    int last_errno;
    int64_t listener;
    uint32_t ssrc_be;
    uint32_t addrlen;
    unsigned char addr[128];
    uint64_t packets;
    uint64_t octets;
    uint64_t errors;
};
void relay_set_protect(void *fn);
int relay_target_set(struct relay_target *t, void *srtp, int fd, const char *ip, int port,
                     uint32_t ssrc);
int relay_fan_send(struct relay_target **targets, int n, const char *head, const char *tail,
                   int tail_len, int payload_octets, int64_t exclude, int *skipped);
"""


def builder() -> FFI:
    ffi = FFI()
    ffi.cdef(CDEF)
    ffi.set_source(
        "media_relay._fastpath",
        (HERE / "fastpath.c").read_text(),
        extra_compile_args=["-O2", "-Wall", "-Werror"],
    )
    return ffi


def main() -> int:
    builder().compile(
        tmpdir=str(HERE.parent / "build" / "fastpath"), target=str(HERE / "_fastpath.*")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
