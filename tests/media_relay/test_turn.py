"""TURN the standard way (issue #22, point 1): the web tier mints per-member credentials by the
TURN REST API scheme, and a real coturn (`turnserver`, started here on 127.0.0.1 with
`use-auth-secret`) allocates with them, refuses wrong or expired ones, and relays a member's
audio to the relay when the member may use relayed candidates only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint
from aiortc import RTCConfiguration, RTCIceServer
from aiortc.rtcconfiguration import RTCIceTransportPolicy
from django.core.exceptions import ImproperlyConfigured

from media_relay import conf
from media_relay.ice import member_ice_servers, turn_credential_mint
from media_relay.sessions import RelayRoom
from media_relay.testing import ListenerClient, SpeakerClient, wait_for

SECRET = "a-test-secret-shared-with-coturn"
SPEAKER, LISTENER = 1, 2


def openssl_credential(secret: str, username: str) -> str:
    """coturn's algorithm computed by another implementation: base64(HMAC-SHA1(secret, user))."""
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is needed to check the credential independently"
    digest = subprocess.run(  # noqa: S603 (openssl with fixed arguments)
        [openssl, "dgst", "-sha1", "-hmac", secret, "-binary"],
        input=username.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return base64.b64encode(digest).decode()


# --- minting ----------------------------------------------------------------------------------
def test_credential_is_expiry_colon_user_and_hmac_sha1_of_it(settings) -> None:
    settings.TURN_URLS = "turn:turn.example.org:3478?transport=udp"
    settings.TURN_SECRET = SECRET
    settings.TURN_TTL_SECONDS = "600"
    now = time.time()
    turn = member_ice_servers(42, now=now)["ice_servers"][-1]
    expiry, user = turn["username"].split(":")
    assert (int(expiry), user) == (int(now) + 600, "42")
    assert turn["credential"] == openssl_credential(SECRET, turn["username"])


def test_each_member_gets_their_own_username(settings) -> None:
    settings.TURN_URLS = "turn:turn.example.org:3478"
    settings.TURN_SECRET = SECRET
    first = member_ice_servers(1)["ice_servers"][-1]
    second = member_ice_servers(2)["ice_servers"][-1]
    assert first["username"].endswith(":1")
    assert second["username"].endswith(":2")
    assert first["credential"] != second["credential"]


def test_servers_come_from_the_environment_style_settings(settings) -> None:
    settings.STUN_URLS = "stun:stun.example.org:3478, stun:stun2.example.org"
    settings.TURN_URLS = (
        "turn:turn.example.org:3478?transport=udp,turn:turn.example.org:3478?transport=tcp,"
        "turns:turn.example.org:5349?transport=tcp"
    )
    settings.TURN_SECRET = SECRET
    settings.TURN_TTL_SECONDS = "3600"
    answer = member_ice_servers(5, now=1_000_000)
    assert answer["ice_servers"][0] == {
        "urls": ["stun:stun.example.org:3478", "stun:stun2.example.org"]
    }
    assert answer["ice_servers"][1]["urls"] == [
        "turn:turn.example.org:3478?transport=udp",
        "turn:turn.example.org:3478?transport=tcp",
        "turns:turn.example.org:5349?transport=tcp",
    ]
    assert answer["expires_at"] == 1_000_000 + 3600
    assert answer["ttl_seconds"] == 3600


def test_relay_ice_servers_keeps_taking_bare_stun_urls(settings) -> None:
    settings.RELAY_ICE_SERVERS = ["stun:stun.example.org:3478"]
    assert conf.ice_servers() == ["stun:stun.example.org:3478"]
    assert member_ice_servers(1)["ice_servers"] == [{"urls": ["stun:stun.example.org:3478"]}]
    settings.RELAY_ICE_SERVERS = "stun:a.example.org,stun:b.example.org"  # from the environment
    assert conf.ice_servers() == ["stun:a.example.org", "stun:b.example.org"]


def test_without_turn_there_is_no_credential_and_no_expiry(settings) -> None:
    assert member_ice_servers(1) == {"ice_servers": [], "expires_at": None, "ttl_seconds": None}


@pytest.mark.parametrize(
    ("name", "value", "read", "says"),
    [
        ("TURN_URLS", "http://turn.example.org", conf.turn_urls, "is not a turn: or turns: URL"),
        ("STUN_URLS", "turn:x.example.org", conf.stun_urls, "is not a stun: or stuns: URL"),
        ("RELAY_ICE_SERVERS", "turn:x.example.org", conf.ice_servers, "is not a stun:"),
        ("TURN_TTL_SECONDS", "soon", conf.turn_ttl_s, "must be a whole number"),
        ("TURN_TTL_SECONDS", "5", conf.turn_ttl_s, "must be between"),
        ("RELAY_PUBLIC_IP", "relay.example.org", conf.public_ip, "must be an IP address"),
        ("RELAY_UDP_PORT_MIN", "40000", conf.udp_port_range, "Set both"),
        ("RELAY_UDP_PORT_MAX", "80", conf.udp_port_range, "must be between"),
    ],
)
def test_a_bad_setting_says_what_is_wrong(
    settings, name: str, value: str, read: Callable[[], object], says: str
) -> None:
    setattr(settings, name, value)
    with pytest.raises(ImproperlyConfigured, match=says):
        read()


def test_a_port_range_upside_down_is_refused(settings) -> None:
    settings.RELAY_UDP_PORT_MIN = "50000"
    settings.RELAY_UDP_PORT_MAX = "40000"
    with pytest.raises(ImproperlyConfigured, match="must not be above"):
        conf.udp_port_range()


def test_turn_without_a_secret_is_refused(settings) -> None:
    settings.TURN_URLS = "turn:turn.example.org"
    settings.TURN_SECRET = ""
    with pytest.raises(ImproperlyConfigured, match="TURN_SECRET is empty"):
        member_ice_servers(1)


# --- a real coturn ----------------------------------------------------------------------------
@dataclass
class Coturn:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"


def _free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (coturn listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port


@contextlib.contextmanager
def coturn_running(tmp_path: Path, relay_ip: str = "127.0.0.1") -> Iterator[Coturn]:
    """coturn on 127.0.0.1 with `use-auth-secret` and SECRET; relayed addresses on `relay_ip`."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn's turnserver is not installed (`make turn` installs it)")
    port = _free_port()
    log = tmp_path / "turnserver.log"
    process = subprocess.Popen(  # noqa: S603 (coturn with fixed arguments)
        [
            binary,
            "-n",  # no configuration file: only what is given here
            f"--listening-port={port}",
            "--listening-ip=127.0.0.1",
            f"--relay-ip={relay_ip}",
            "--use-auth-secret",
            f"--static-auth-secret={SECRET}",
            "--realm=clubhouse.test",
            "--allow-loopback-peers",  # the relay under test is on this host
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            f"--db={tmp_path / 'turndb'}",
            f"--pidfile={tmp_path / 'turnserver.pid'}",
            f"--log-file={log}",
            "--simple-log",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"turnserver did not start: {log.read_text() if log.exists() else ''}")
            time.sleep(0.05)
        yield Coturn(port, log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Coturn]:
    with coturn_running(tmp_path) as server:
        yield server


async def allocate(server: Coturn, username: str, password: str) -> tuple[str, int]:
    """A TURN allocation over UDP: the relayed address coturn gives, or stun.TransactionFailed."""
    transport, _protocol = await create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=("127.0.0.1", server.port),
        username=username,
        password=password,
        lifetime=60,
        channel_refresh_time=60,
        transport="udp",
    )
    try:
        relayed = transport.get_extra_info("sockname")
        return str(relayed[0]), int(relayed[1])
    finally:
        transport.close()


def _minted(settings, server: Coturn, user_id: int, now: float | None = None) -> dict[str, str]:
    settings.TURN_URLS = server.url
    settings.TURN_SECRET = SECRET
    return dict(member_ice_servers(user_id, now=now)["ice_servers"][-1])


async def test_coturn_allocates_with_a_minted_credential(settings, coturn: Coturn) -> None:
    turn = _minted(settings, coturn, 42)
    host, port = await allocate(coturn, turn["username"], turn["credential"])
    assert host == "127.0.0.1"
    assert port > 0


async def test_coturn_refuses_a_wrong_credential(settings, coturn: Coturn) -> None:
    turn = _minted(settings, coturn, 42)
    forged = turn_credential_mint("not-the-secret", 42, int(turn["username"].split(":")[0]))
    assert forged.username == turn["username"]
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(coturn, forged.username, forged.credential)
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


async def test_coturn_refuses_an_expired_credential(settings, coturn: Coturn) -> None:
    settings.TURN_TTL_SECONDS = "60"
    turn = _minted(settings, coturn, 42, now=time.time() - 120)  # expired a minute ago
    assert int(turn["username"].split(":")[0]) < time.time()
    with pytest.raises(stun.TransactionFailed) as refused:
        await allocate(coturn, turn["username"], turn["credential"])
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401


def _relay_only(turn: dict[str, str]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(
                urls=turn["urls"], username=turn["username"], credential=turn["credential"]
            )
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


async def test_a_listener_allowed_only_relayed_candidates_hears_the_room_through_coturn(
    settings, coturn: Coturn
) -> None:
    # coturn's relayed addresses are on 127.0.0.1 here, which the relay otherwise refuses.
    settings.RELAY_ALLOW_LOOPBACK_CANDIDATES = True
    turn = _minted(settings, coturn, LISTENER)
    room = RelayRoom(3, slots=3)
    room.room_state({SPEAKER}, set())
    speaker = SpeakerClient()
    listener = ListenerClient(config=_relay_only(turn))
    try:
        await speaker.answer(await room.peer_offer(SPEAKER, await speaker.offer()))
        offer = await listener.offer()
        candidates = [line for line in offer.splitlines() if line.startswith("a=candidate:")]
        assert candidates
        assert all(" typ relay " in line for line in candidates)
        await listener.answer(await room.peer_offer(LISTENER, offer))
        assert await wait_for(lambda: listener.tone_frames >= 25, timeout=15)
        # counted for operators as a join through TURN (the speaker: by their host address)
        metrics = room.metrics()
        assert (metrics["ice_connected_relay"], metrics["ice_connected_host"]) == (1, 1)
    finally:
        await listener.close()
        await speaker.close()
        await room.close()


async def test_with_a_wrong_credential_a_relay_only_listener_gathers_nothing(
    settings, coturn: Coturn
) -> None:
    turn = _minted(settings, coturn, LISTENER)
    turn["credential"] = turn_credential_mint("wrong", LISTENER, 2_000_000_000).credential
    listener = ListenerClient(config=_relay_only(turn))
    try:
        offer = await listener.offer()
        assert not [line for line in offer.splitlines() if line.startswith("a=candidate:")]
    finally:
        await listener.close()


def test_settings_are_read_from_the_environment(tmp_path: Path) -> None:
    """A fresh process with only environment variables (as a deployment sets them)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clubhouse.settings",
        "DJANGO_DEBUG": "1",
        "STUN_URLS": "stun:stun.example.org:3478",
        "TURN_URLS": "turn:turn.example.org:3478?transport=tcp,turns:turn.example.org:5349",
        "TURN_SECRET": SECRET,
        "TURN_TTL_SECONDS": "120",
        "RELAY_PUBLIC_IP": "203.0.113.7",
        "RELAY_UDP_PORT_MIN": "40000",
        "RELAY_UDP_PORT_MAX": "40099",
        "RELAY_ICE_SERVERS": "stun:relay-stun.example.org",
    }
    script = (
        "import django, json; django.setup()\n"
        "from media_relay import conf; from media_relay.ice import member_ice_servers\n"
        "print(json.dumps([member_ice_servers(7, now=1000), conf.public_ip(),"
        " conf.udp_port_range(), conf.ice_servers()]))\n"
    )
    done = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    servers, public_ip, ports, relay_stun = json.loads(done.stdout.strip().splitlines()[-1])
    assert servers["ice_servers"][0] == {"urls": ["stun:stun.example.org:3478"]}
    turn = servers["ice_servers"][1]
    assert turn["urls"] == [
        "turn:turn.example.org:3478?transport=tcp",
        "turns:turn.example.org:5349",
    ]
    assert turn["username"] == "1120:7"
    assert turn["credential"] == openssl_credential(SECRET, "1120:7")
    assert public_ip == "203.0.113.7"
    assert ports == [40000, 40099]
    assert relay_stun == ["stun:relay-stun.example.org", "stun:stun.example.org:3478"]
