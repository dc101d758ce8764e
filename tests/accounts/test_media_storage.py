"""Media on S3-compatible storage (AWS_STORAGE_BUCKET_NAME; docs/operations.md, "Media on
S3-compatible storage"), against a real S3 endpoint: moto's server mode on 127.0.0.1.

The settings are computed from the environment by a fresh process, exactly as a deployment's
would be; this process then uses the storage they describe for a real avatar upload.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import User
from tests.factories import UserFactory
from tests.testenv import free_port

BASE_DIR = Path(settings.BASE_DIR)
BUCKET = "clubhouse-media"
# moto takes any credentials; these name nobody
KEYS = {"AWS_ACCESS_KEY_ID": "test-access-key", "AWS_SECRET_ACCESS_KEY": "test-secret-key"}


def _settings_from(env: dict[str, str], expression: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, our own settings module
        [
            sys.executable,
            "-c",
            f"import json; from clubhouse import settings as s; print(json.dumps({expression}))",
        ],
        cwd=BASE_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - moto's own server, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=5):  # noqa: S310
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail("moto's S3 server did not answer within 60 s")
            time.sleep(0.2)
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", **_boto_keys()).create_bucket(
        Bucket=BUCKET
    )
    yield url
    server.terminate()
    server.wait(timeout=10)


def _boto_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": KEYS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": KEYS["AWS_SECRET_ACCESS_KEY"],
    }


def _s3_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        **KEYS,
    }


def test_without_a_bucket_media_stay_on_the_file_system() -> None:
    done = _settings_from({"AWS_STORAGE_BUCKET_NAME": ""}, 's.STORAGES["default"]')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["BACKEND"] == "django.core.files.storage.FileSystemStorage"


@pytest.mark.django_db
def test_with_a_bucket_an_avatar_upload_lands_in_it_and_its_url_serves_it(
    s3_endpoint: str, as_user: Any, settings: Any
) -> None:
    done = _settings_from(
        _s3_env(s3_endpoint), '{"storages": s.STORAGES, "csp": s.CONTENT_SECURITY_POLICY}'
    )
    assert done.returncode == 0, done.stderr
    computed = json.loads(done.stdout)
    assert computed["storages"]["default"]["BACKEND"] == "storages.backends.s3.S3Storage"
    # the pages may show pictures from the bucket
    assert s3_endpoint in computed["csp"]["DIRECTIVES"]["img-src"]
    settings.STORAGES = computed["storages"]

    picture = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(picture, "PNG")
    me = UserFactory()
    upload = SimpleUploadedFile("me.png", picture.getvalue(), content_type="image/png")
    response = as_user(me).patch("/api/v1/me/", {"avatar": upload}, format="multipart")

    assert response.status_code == 200, response.json()
    me = User.objects.get(pk=me.pk)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_boto_keys())
    stored = s3.get_object(Bucket=BUCKET, Key=me.avatar.name)["Body"].read()
    assert Image.open(io.BytesIO(stored)).size == (8, 8)
    url = response.json()["avatar"]
    assert url.startswith(f"{s3_endpoint}/{BUCKET}/avatars/")
    with urllib.request.urlopen(url, timeout=10) as served:  # noqa: S310 - the signed URL
        assert served.read() == stored
    assert not (Path(settings.MEDIA_ROOT) / me.avatar.name).exists()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AWS_S3_ENDPOINT_URL": "s3.example.com"}, "AWS_S3_ENDPOINT_URL='s3.example.com'"),
        (
            {"AWS_S3_CUSTOM_DOMAIN": "https://media.example.com"},
            "is a host name like media.example.com",
        ),
    ],
)
def test_a_bucket_setting_that_cannot_work_is_refused_at_start_up(
    env: dict[str, str], message: str
) -> None:
    done = _settings_from({"AWS_STORAGE_BUCKET_NAME": BUCKET, **env}, "1")
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr
    assert message in done.stderr
