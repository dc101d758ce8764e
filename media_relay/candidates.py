"""Which remote ICE candidates the relay accepts (issue #12, point 10).

The relay sends STUN connectivity checks to every remote candidate a client names, so a client
could otherwise make it send datagrams to the relay host's own services (127.0.0.1:6379) or to
addresses no client can have. A candidate is accepted when it names an address a real client
can offer: a unicast IP address, public or private (RFC 1918, unique-local IPv6, the
documentation ranges used by tests), or an mDNS `.local` name (browsers hide host addresses
behind them). Refused: loopback (unless the relay itself is reachable only on loopback, or
`RELAY_ALLOW_LOOPBACK_CANDIDATES` says so), link-local, multicast, broadcast, unspecified and
reserved addresses, IPv4-mapped forms of those, and any other host name.
"""

from __future__ import annotations

import ipaddress

from media_relay import conf

ICE_CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay", "none")
# The kinds a connected peer's selected remote candidate can be, as the relay sees the member:
# their own address, a NAT's mapping (learnt by STUN or from their checks), or TURN.
ICE_PATH_TYPES = ("host", "srflx", "prflx", "relay")


def offer_candidate_types(sdp: str) -> frozenset[str]:
    """The candidate types (host, srflx, prflx, relay) an offer names."""
    kinds = set()
    for line in sdp.splitlines():
        if line.startswith("a=candidate:"):
            fields = line.split()
            if len(fields) >= 8 and fields[6] == "typ" and fields[7] in ICE_CANDIDATE_TYPES:
                kinds.add(fields[7])
    return frozenset(kinds)


def loopback_allowed() -> bool:
    """`RELAY_ALLOW_LOOPBACK_CANDIDATES` when set; otherwise whether the relay has no address but
    loopback (then its clients can only be on this host)."""
    explicit = conf.allow_loopback_candidates()
    if explicit is not None:
        return explicit
    import aioice.ice

    # The addresses the relay gathers its own candidates on (aioice leaves out 127.0.0.1/::1).
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True)
    return not any(_routable(address) for address in addresses)


def _routable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)


def candidate_refusal(host: str, *, allow_loopback: bool) -> str | None:
    """Why a remote candidate naming `host` is refused, or None if a client may offer it."""
    if host.lower().endswith(".local") and "." in host[:-6]:
        return None  # an mDNS name (RFC 8838 / draft-ietf-mmusic-mdns-ice-candidates)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved or ip == ipaddress.IPv4Address("255.255.255.255"):
        return "reserved"
    return None


def offer_sanitize(sdp: str, *, allow_loopback: bool, limit: int) -> tuple[str, int]:
    """The offer without the candidate lines a client may not offer, and the largest number of
    candidates left in one m-section (a bundled transport's candidates are repeated in each).
    Raises ValueError("too_many_candidates") past `limit`."""
    out: list[str] = []
    most = in_section = 0
    for line in sdp.splitlines(True):
        if line.startswith("m="):
            in_section = 0
        elif line.startswith("a=candidate:"):
            fields = line[len("a=candidate:") :].split()
            if len(fields) < 8 or candidate_refusal(fields[4], allow_loopback=allow_loopback):
                continue
            in_section += 1
            most = max(most, in_section)
            if most > limit:
                raise ValueError("too_many_candidates")
        out.append(line)
    return "".join(out), most


def answer_announce_public_ip(sdp: str, public_ip: str) -> str:
    """The relay's answer as seen through a 1:1 NAT (RELAY_PUBLIC_IP, like Janus's
    nat_1_1_mapping): every host candidate of the public address's family names the public
    address instead of the interface's (the NAT keeps the port), host candidates of the other
    family are left out (nothing maps them), and so is a candidate that becomes a duplicate.
    The connection-data lines (`c=`) name the public address too."""
    version = ipaddress.ip_address(public_ip).version
    family = "IP4" if version == 4 else "IP6"
    out: list[str] = []
    seen: set[str] = set()
    for line in sdp.splitlines(True):
        if line.startswith("m="):
            seen = set()
        elif line.startswith("c=IN "):
            line = f"c=IN {family} {public_ip}\r\n"
        elif line.startswith("a=candidate:"):
            fields = line[len("a=candidate:") :].split()
            if len(fields) >= 8 and fields[6] == "typ" and fields[7] == "host":
                try:
                    same_family = ipaddress.ip_address(fields[4]).version == version
                except ValueError:
                    same_family = False
                if not same_family:
                    continue
                fields[4] = public_ip
                key = " ".join(fields[2:])  # transport, priority, address, port, type...
                if key in seen:
                    continue
                seen.add(key)
                line = "a=candidate:" + " ".join(fields) + "\r\n"
        out.append(line)
    return "".join(out)
