from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from tests.factories import UserFactory


@pytest.fixture
def member(db: None) -> User:
    return UserFactory()


@pytest.fixture
def as_user() -> Callable[[User], APIClient]:
    """An API client authenticated as the given person (session-based, as the web app)."""

    def make(user: User) -> APIClient:
        client = APIClient()
        client.force_authenticate(user)
        return client

    return make


@pytest.fixture(autouse=True)
def _private_cache(settings) -> None:  # type: ignore[no-untyped-def]
    """allauth's rate limits (verification and reset mails per address) live in the cache;
    a fresh local cache per test keeps runs independent of each other and of Redis."""
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"}
    }
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    """Logins and signups in these tests hash passwords; the production hasher is slow on
    purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
