"""The API's rate limits as a client sees them, at the real default rates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from clubhouse.throttling import parse_rate
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def _report_limit() -> int:
    return min(window.limit for window in parse_rate(settings.THROTTLE_RATES["report"]))


def _report(client, username: str):  # type: ignore[no-untyped-def]
    return client.post(f"/api/v1/users/{username}/report/", {"reason": "spam"}, format="json")


def test_the_report_past_the_limit_is_refused_with_retry_after_and_the_error_shape(
    api_client,  # type: ignore[no-untyped-def]
) -> None:
    limit = _report_limit()
    reporter = UserFactory()
    api_client.force_authenticate(reporter)
    for _ in range(limit):
        assert _report(api_client, UserFactory().username).status_code == 201
    refused = _report(api_client, UserFactory().username)
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert 0 < retry_after <= 3600
    assert refused.json() == {
        "error": {
            "code": "rate_limited",
            "message": refused.json()["error"]["message"],
            "fields": {},
            "retry_after": retry_after,
        }
    }
    assert "reports" in refused.json()["error"]["message"]


def test_each_member_has_their_own_count(api_client) -> None:  # type: ignore[no-untyped-def]
    first, second = UserFactory(), UserFactory()
    api_client.force_authenticate(first)
    for _ in range(_report_limit()):
        _report(api_client, UserFactory().username)
    assert _report(api_client, UserFactory().username).status_code == 429
    api_client.force_authenticate(second)
    assert _report(api_client, UserFactory().username).status_code == 201


def test_reads_are_not_counted(api_client) -> None:  # type: ignore[no-untyped-def]
    api_client.force_authenticate(UserFactory())
    for _ in range(_report_limit() + 5):
        assert api_client.get("/api/v1/me/").status_code == 200


def test_another_process_shares_the_count_through_redis(
    api_client,  # type: ignore[no-untyped-def]
    redis_url: str,
) -> None:
    """A second web process (a separate Python, its own connection to the real Redis) uses up
    part of a member's reports; this process then refuses the member sooner."""
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")
    limit = _report_limit()
    reporter = UserFactory()
    used_elsewhere = limit - 2
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        f"settings.THROTTLE_NAMESPACE = {settings.THROTTLE_NAMESPACE!r}\n"
        "from clubhouse.throttling import throttle_hit\n"
        f"for _ in range({used_elsewhere}): throttle_hit('report', 'user:{reporter.pk}')\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clubhouse.settings", "REDIS_URL": redis_url}
    subprocess.run(  # noqa: S603  (this interpreter, fixed arguments)
        [sys.executable, "-c", script], cwd=REPO, env=env, check=True, timeout=120
    )

    api_client.force_authenticate(reporter)
    assert _report(api_client, UserFactory().username).status_code == 201
    assert _report(api_client, UserFactory().username).status_code == 201
    assert _report(api_client, UserFactory().username).status_code == 429


def test_an_operator_changes_a_rate_with_an_environment_variable() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clubhouse.settings"}
    env["THROTTLE_RATE_REPORT"] = "3/m,7/d"
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "print(settings.THROTTLE_RATES['report'], settings.THROTTLE_RATES['payment'])\n"
    )
    out = subprocess.run(  # noqa: S603  (this interpreter, fixed arguments)
        [sys.executable, "-c", script], cwd=REPO, env=env, check=True, timeout=120,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert out.split() == ["3/m,7/d", settings.THROTTLE_RATES["payment"]]


def test_a_rate_that_does_not_parse_stops_the_start_up() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "clubhouse.settings"}
    env["THROTTLE_RATE_PAYMENT"] = "10 per hour"
    started = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=REPO, env=env, timeout=120, capture_output=True, text=True,
    )  # fmt: skip
    assert started.returncode != 0
    assert "THROTTLE_RATE_PAYMENT='10 per hour' is not a rate" in started.stderr
