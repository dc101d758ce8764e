"""Profiles: the API (GET/PATCH me, GET users/<username>), validation, and the page."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from accounts.models import User
from tests.factories import BlockFactory, FollowFactory, TopicFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path


def _image(fmt: str, name: str, size: tuple[int, int] = (8, 8)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")


def test_me_shows_the_private_fields(as_user) -> None:
    me = UserFactory(invitation_quota=4)
    body = as_user(me).get("/api/v1/me/").json()
    assert body["username"] == me.username
    assert body["email"] == me.email
    assert body["status"] == "member"
    assert body["invitation_quota"] == 4
    assert body["relationship"] == {"follows": False, "followed_by": False, "mutual": False}


def test_patch_me_updates_profile_fields(as_user) -> None:
    TopicFactory(slug="music")
    TopicFactory(slug="books")
    me = UserFactory()
    response = as_user(me).patch(
        "/api/v1/me/",
        {
            "display_name": "Ada L.",
            "bio": "Poetical science",
            "links": ["https://example.com/ada", " http://ada.dev "],
            "topics": ["music", "books"],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["display_name"] == "Ada L."
    assert body["links"] == ["https://example.com/ada", "http://ada.dev"]
    assert sorted(body["topics"]) == ["books", "music"]
    me.refresh_from_db()
    assert me.bio == "Poetical science"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"links": ["ftp://example.com"]}, "links"),
        ({"links": ["javascript:alert(1)"]}, "links"),
        ({"links": [f"https://example.com/{n}" for n in range(6)]}, "links"),
        ({"links": "https://example.com"}, "links"),
        ({"topics": ["no-such-topic"]}, "topics"),
        ({"display_name": "x" * 65}, "display_name"),
        ({"display_name": {"a": 1}}, "display_name"),
        ({"bio": "x" * 1001}, "bio"),
    ],
)
def test_patch_me_rejects_bad_fields_with_field_errors(as_user, payload: dict, field: str) -> None:
    response = as_user(UserFactory()).patch("/api/v1/me/", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]


@pytest.mark.parametrize(("fmt", "name"), [("PNG", "a.png"), ("JPEG", "a.jpg"), ("WEBP", "a.webp")])
def test_avatar_accepts_png_jpeg_and_webp(as_user, fmt: str, name: str) -> None:
    me = UserFactory()
    response = as_user(me).patch("/api/v1/me/", {"avatar": _image(fmt, name)}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json()["avatar"].endswith(name.rsplit(".", 1)[1])
    me.refresh_from_db()
    assert me.avatar.name.startswith("avatars/")


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (lambda: _image("GIF", "a.gif"), "GIF images are not accepted"),
        (lambda: _image("BMP", "a.png"), "BMP images are not accepted"),
        (lambda: SimpleUploadedFile("a.png", b"not an image", "image/png"), "valid image"),
        (
            lambda: SimpleUploadedFile("big.png", b"\0" * (2 * 1024 * 1024 + 1), "image/png"),
            "too large",
        ),
    ],
)
def test_avatar_rejects_wrong_types_and_sizes_with_a_clear_field_error(
    as_user, upload, message: str
) -> None:
    response = as_user(UserFactory()).patch("/api/v1/me/", {"avatar": upload()}, format="multipart")
    assert response.status_code == 400
    errors = response.json()["error"]["fields"]["avatar"]
    assert any(message in text for text in errors), errors


def _stored_image(field) -> Image.Image:  # type: ignore[no-untyped-def]
    field.open("rb")
    try:
        image = Image.open(io.BytesIO(field.read()))
        image.load()
        return image
    finally:
        field.close()


def test_avatar_is_stored_under_a_random_name_with_its_real_extension(as_user) -> None:
    me = UserFactory()
    first = as_user(me).patch(
        "/api/v1/me/", {"avatar": _image("PNG", "a.html")}, format="multipart"
    )
    assert first.status_code == 200, first.json()
    me.refresh_from_db()
    stored = me.avatar.name.removeprefix("avatars/")
    assert stored.endswith(".png")
    assert "html" not in stored
    assert not stored.startswith("a.")
    assert first.json()["avatar"].endswith(stored)
    assert _stored_image(me.avatar).format == "PNG"
    as_user(me).patch("/api/v1/me/", {"avatar": _image("PNG", "a.html")}, format="multipart")
    me.refresh_from_db()
    assert me.avatar.name.removeprefix("avatars/") != stored


def test_avatar_loses_its_exif_gps_position(as_user) -> None:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}  # GPS IFD
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "teal").save(buffer, "JPEG", exif=exif)
    assert Image.open(io.BytesIO(buffer.getvalue())).getexif().get_ifd(0x8825)
    upload = SimpleUploadedFile("holiday.jpg", buffer.getvalue(), content_type="image/jpeg")
    me = UserFactory()
    response = as_user(me).patch("/api/v1/me/", {"avatar": upload}, format="multipart")
    assert response.status_code == 200, response.json()
    me.refresh_from_db()
    me.avatar.open("rb")
    raw = me.avatar.read()
    me.avatar.close()
    stored = Image.open(io.BytesIO(raw))
    assert stored.format == "JPEG"
    assert stored.size == (16, 16)
    assert not stored.getexif()
    assert b"Exif" not in raw
    assert b"SpyCam" not in raw


def test_avatar_is_scaled_down_to_the_configured_side(as_user, settings) -> None:  # type: ignore[no-untyped-def]
    settings.IMAGE_MAX_SIDE = 64
    me = UserFactory()
    response = as_user(me).patch(
        "/api/v1/me/", {"avatar": _image("PNG", "big.png", size=(400, 200))}, format="multipart"
    )
    assert response.status_code == 200, response.json()
    me.refresh_from_db()
    assert _stored_image(me.avatar).size == (64, 32)


def test_avatar_page_refuses_a_file_that_is_not_an_image(client: Client) -> None:
    me = UserFactory()
    client.force_login(me)
    response = client.post(
        "/me/edit/",
        {"avatar": SimpleUploadedFile("a.png", b"<html><script>x</script>", "image/png")},
    )
    assert response.status_code == 200
    assert b"Upload a valid image" in response.content
    me.refresh_from_db()
    assert not me.avatar


def test_avatar_can_be_removed(as_user) -> None:
    me = UserFactory()
    client = as_user(me)
    client.patch("/api/v1/me/", {"avatar": _image("PNG", "a.png")}, format="multipart")
    response = client.patch("/api/v1/me/", {"avatar": None}, format="json")
    assert response.status_code == 200
    assert response.json()["avatar"] is None


def test_another_profile_shows_counts_nomination_and_relationship(as_user) -> None:
    inviter = UserFactory()
    ada, viewer = UserFactory(invited_by=inviter), UserFactory()
    FollowFactory(follower=viewer, followee=ada)
    FollowFactory(follower=ada, followee=viewer)
    FollowFactory(follower=UserFactory(), followee=ada)
    body = as_user(viewer).get(f"/api/v1/users/{ada.username}/").json()
    assert body["followers_count"] == 2
    assert body["following_count"] == 1
    assert body["nominated_by"]["username"] == inviter.username
    assert body["relationship"] == {"follows": True, "followed_by": True, "mutual": True}
    assert "email" not in body
    assert "invitation_quota" not in body


@pytest.mark.parametrize("kind", ["waitlisted", "inactive", "missing"])
def test_non_members_have_no_public_profile(as_user, kind: str) -> None:
    if kind == "waitlisted":
        username = UserFactory(waitlisted=True).username
    elif kind == "inactive":
        username = UserFactory(is_active=False).username
    else:
        username = "ghost"
    response = as_user(UserFactory()).get(f"/api/v1/users/{username}/")
    assert response.status_code == 404


def test_profile_page_shows_the_profile(client: Client) -> None:
    inviter = UserFactory(display_name="Grace")
    ada = UserFactory(display_name="Ada", bio="Notes on the engine", invited_by=inviter)
    client.force_login(UserFactory())
    response = client.get(f"/u/{ada.username}/")
    assert response.status_code == 200
    assert b"Ada" in response.content
    assert b"Nominated by" in response.content
    assert b"Grace" in response.content


def test_profile_page_is_404_when_blocked_either_way(client: Client) -> None:
    a, b = UserFactory(), UserFactory()
    BlockFactory(blocker=b, blocked=a)
    client.force_login(a)
    assert client.get(f"/u/{b.username}/").status_code == 404
    client.force_login(b)
    assert client.get(f"/u/{a.username}/").status_code == 404


def test_profile_page_is_public_for_members_only(client: Client) -> None:
    assert client.get(f"/u/{UserFactory().username}/").status_code == 200
    assert client.get(f"/u/{UserFactory(waitlisted=True).username}/").status_code == 404
    assert User.objects.count() == 2


def test_profile_edit_page_saves_through_the_service(client: Client) -> None:
    TopicFactory(slug="music", name="Music")
    me = UserFactory()
    client.force_login(me)
    assert client.get("/me/edit/").status_code == 200
    response = client.post(
        "/me/edit/",
        {
            "display_name": "Ada",
            "bio": "Engines",
            "links": "https://ada.dev\nhttp://example.com/x",
            "topics": ["music"],
            "avatar": _image("PNG", "me.png"),
        },
    )
    assert response.status_code == 302
    me.refresh_from_db()
    assert me.display_name == "Ada"
    assert me.links == ["https://ada.dev", "http://example.com/x"]
    assert [t.slug for t in me.topics.all()] == ["music"]
    assert me.avatar.name.startswith("avatars/")


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"links": "ftp://nope"}, "links", b"is not an http(s) URL"),
        ({"avatar": _image("GIF", "a.gif")}, "avatar", b"GIF images are not accepted"),
    ],
)
def test_profile_edit_page_shows_field_errors(
    client: Client, data: dict, field: str, message: bytes
) -> None:
    client.force_login(UserFactory())
    response = client.post("/me/edit/", data)
    assert response.status_code == 200
    assert message in response.content


def test_profile_page_follow_button(client: Client) -> None:
    me, other = UserFactory(), UserFactory()
    client.force_login(me)
    page = client.get(f"/u/{other.username}/")
    assert b">Follow<" in page.content
    client.post(f"/u/{other.username}/follow/", {"action": "follow"})
    assert other.follower_set.filter(follower=me).exists()
    client.post(f"/u/{other.username}/follow/", {"action": "unfollow"})
    assert not other.follower_set.exists()
