"""A small internet of network namespaces for the tests of what crosses real networks (issue
#22): a router; a relay host at 203.0.113.2 (which may also serve the web tier on port 8000); a
coturn host at 203.0.113.6; and three client hosts:
- `plain` at 198.51.100.2, routed to everything;
- `natted` at 198.51.100.14 behind a symmetric NAT (`nat`, MASQUERADE with random ports at
  198.51.100.10): the router has no route to it, so only the NAT's mappings reach it;
- `udpless` at 198.51.100.6, behind an office firewall: no UDP at all, TCP only to coturn's port
  and the web server's.
Documentation ranges only, nothing private or outside; every namespace is removed afterwards.
Needs root, ip and iptables (`make netns`) and coturn (`make turn`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from media_relay.ice import turn_credential_mint

ROOT = Path(__file__).resolve().parents[1]
SECRET = "a-test-secret-shared-with-coturn"
RELAY_IP, TURN_IP, TURN_PORT, WEB_PORT = "203.0.113.2", "203.0.113.6", 3478, 8000
PLAIN_IP, UDPLESS_IP, NAT_OUTSIDE_IP, NATTED_IP = (
    "198.51.100.2",
    "198.51.100.6",
    "198.51.100.10",
    "198.51.100.14",
)


def run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)  # noqa: S603 (ip/iptables)
    assert done.returncode == 0, (args, done.stderr)


@dataclass
class Internet:
    tag: str
    namespaces: list[str] = field(default_factory=list)
    links: int = 0

    def ns(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def add(self, name: str) -> str:
        ns = self.ns(name)
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def link(self, a: str, a_ip: str, b: str, b_ip: str) -> str:
        """A veth pair between namespaces `a` and `b`, each end with its /30 address; returns
        the name of `a`'s end."""
        self.links += 1
        a_dev, b_dev = f"a{self.links}{self.tag}", f"b{self.links}{self.tag}"
        run("ip", "link", "add", a_dev, "netns", self.ns(a), "type", "veth", "peer", "name",
            b_dev, "netns", self.ns(b))  # fmt: skip
        for ns, dev, ip in ((a, a_dev, a_ip), (b, b_dev, b_ip)):
            run("ip", "-n", self.ns(ns), "addr", "add", f"{ip}/30", "dev", dev)
            run("ip", "-n", self.ns(ns), "link", "set", dev, "up")
        return a_dev

    def exec(self, name: str, *args: str) -> None:
        run("ip", "netns", "exec", self.ns(name), *args)

    def remove(self) -> None:
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "del", ns], check=False)  # noqa: S603, S607


@contextlib.contextmanager
def internet_built() -> Iterator[Internet]:
    for tool in ("ip", "iptables", "turnserver"):
        if shutil.which(tool) is None:
            pytest.fail(f"this test needs {tool} (`make turn` installs coturn's turnserver)")
    if os.geteuid() != 0:
        pytest.fail("this test makes network namespaces: it needs root (CI has it)")
    net = Internet(uuid.uuid4().hex[:5])
    try:
        for name in ("router", "relay", "turn", "plain", "udpless", "nat", "natted"):
            net.add(name)
        net.exec("router", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        net.exec("nat", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        # hosts on the router, each on a /30 of its own
        net.link("relay", RELAY_IP, "router", "203.0.113.1")
        net.link("turn", TURN_IP, "router", "203.0.113.5")
        net.link("plain", PLAIN_IP, "router", "198.51.100.1")
        udpless_dev = net.link("udpless", UDPLESS_IP, "router", "198.51.100.5")
        nat_outside = net.link("nat", NAT_OUTSIDE_IP, "router", "198.51.100.9")
        net.link("natted", NATTED_IP, "nat", "198.51.100.13")
        for name, gateway in (
            ("relay", "203.0.113.1"),
            ("turn", "203.0.113.5"),
            ("plain", "198.51.100.1"),
            ("udpless", "198.51.100.5"),
            ("nat", "198.51.100.9"),
            ("natted", "198.51.100.13"),
        ):
            net.exec(name, "ip", "route", "add", "default", "via", gateway)
        # (b) a symmetric NAT: every new mapping gets a random port; the router has no route to
        # the inside, so only the NAT's mappings reach the client
        net.exec("nat", "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", nat_outside,
                 "-j", "MASQUERADE", "--random-fully")  # fmt: skip
        # (c) an office firewall: no UDP at all, TCP only to the TURN server's port
        for rule in (
            ["-A", "OUTPUT", "-o", udpless_dev, "-p", "udp", "-j", "DROP"],
            ["-A", "INPUT", "-i", udpless_dev, "-p", "udp", "-j", "DROP"],
            ["-A", "OUTPUT", "-o", udpless_dev, "-p", "tcp", "-d", TURN_IP, "--dport",
             str(TURN_PORT), "-j", "ACCEPT"],
            ["-A", "OUTPUT", "-o", udpless_dev, "-p", "tcp", "-d", RELAY_IP, "--dport",
             str(WEB_PORT), "-j", "ACCEPT"],
            ["-A", "OUTPUT", "-o", udpless_dev, "-j", "DROP"],
        ):  # fmt: skip
            net.exec("udpless", "iptables", *rule)
        yield net
    finally:
        net.remove()


def python_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clubhouse.settings",
        "DJANGO_DEBUG": "1",
        "REDIS_URL": "",
    }


class Process:
    """A Python script in a namespace, spoken to one JSON line at a time."""

    def __init__(
        self,
        net: Internet,
        name: str,
        script: str,
        log: Path,
        *args: str,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        self.popen = subprocess.Popen(  # noqa: S603 (this interpreter in our own namespace)
            ["ip", "netns", "exec", net.ns(name), sys.executable, "-c", script, *args],  # noqa: S607
            cwd=ROOT,
            env=env or python_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log.open("w"),
            text=True,
        )

    def send(self, message: object) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(json.dumps(message) + "\n")
        self.popen.stdin.flush()

    def read(self) -> dict:
        assert self.popen.stdout is not None
        line = self.popen.stdout.readline()
        assert line, f"{self.log.name} ended: {self.log.read_text()[-3000:]}"
        return dict(json.loads(line))

    def close(self) -> None:
        if self.popen.stdin is not None:
            self.popen.stdin.close()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


@contextlib.contextmanager
def coturn_started(net: Internet, tmp_path: Path) -> Iterator[Path]:
    """coturn in the `turn` host with `use-auth-secret`; yields its (verbose) log's path."""
    binary = shutil.which("turnserver")
    assert binary is not None
    log = tmp_path / "turnserver.log"
    process = subprocess.Popen(  # noqa: S603 (coturn with fixed arguments, in our namespace)
        ["ip", "netns", "exec", net.ns("turn"), binary, "-n",  # noqa: S607
         f"--listening-port={TURN_PORT}", f"--listening-ip={TURN_IP}", f"--relay-ip={TURN_IP}",
         "--use-auth-secret", f"--static-auth-secret={SECRET}", "--realm=clubhouse.test",
         "--no-tls", "--no-dtls", "--no-cli", "--verbose", f"--db={tmp_path / 'turndb'}",
         f"--pidfile={tmp_path / 'turnserver.pid'}", f"--log-file={log}", "--simple-log"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    probe = ["ip", "netns", "exec", net.ns("turn"), "bash", "-c",
             f"exec 3<>/dev/tcp/{TURN_IP}/{TURN_PORT}"]  # fmt: skip
    while subprocess.run(probe, capture_output=True).returncode != 0:  # noqa: S603
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"turnserver did not start: {log.read_text() if log.exists() else ''}")
        time.sleep(0.05)
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def turn_servers(user_id: int, *, tcp_first: bool = False) -> list[dict[str, object]]:
    """What the web tier hands a member: STUN, and TURN over UDP and TCP with minted
    credentials (media_relay.ice's own minting). aiortc, unlike a browser, uses only the first
    TURN URL it is given, so the client behind the UDP firewall lists TCP first (as an app that
    found UDP blocked does)."""
    minted = turn_credential_mint(SECRET, user_id, int(time.time()) + 600)
    turn_urls = [
        f"turn:{TURN_IP}:{TURN_PORT}?transport=udp",
        f"turn:{TURN_IP}:{TURN_PORT}?transport=tcp",
    ]
    return [
        {"urls": [f"stun:{TURN_IP}:{TURN_PORT}"]},
        {
            "urls": turn_urls[::-1] if tcp_first else turn_urls,
            "username": minted.username,
            "credential": minted.credential,
        },
    ]
