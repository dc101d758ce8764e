"""The clubs REST API: shapes, search, uploads, query counts and the error shape everywhere."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from PIL import Image
from rest_framework.test import APIClient

from clubs.models import Club, ClubMembership
from tests.clubs.conftest import World
from tests.clubs.factories import (
    ClubFactory,
    FollowFactory,
    MembershipFactory,
    PremiumFactory,
    TopicFactory,
    UserFactory,
    image_upload,
)

pytestmark = pytest.mark.django_db


def client_for(user: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def assert_error(response: Any, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    assert isinstance(body["error"]["fields"], dict)
    return body["error"]


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path


# --- create, read, update -----------------------------------------------------------------


def test_creating_a_club_makes_you_its_admin() -> None:
    TopicFactory(slug="music")
    creator = UserFactory()
    response = client_for(creator).post(
        "/api/v1/clubs/",
        {
            "name": "Jazz Night",
            "description": "Late sets",
            "topics": ["music"],
            "join_policy": "open",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["slug"] == "jazz-night"
    assert body["topics"] == ["music"]
    assert body["join_policy"] == "open"
    assert body["is_verified"] is False
    assert body["member_count"] == 1
    assert body["viewer"] == {
        "role": "admin",
        "following": False,
        "premium_access": False,
        "can_start_room": True,
        "can_schedule_event": True,
        "can_see_members": True,
    }
    assert ClubMembership.objects.get(club__slug="jazz-night", user=creator).role == "admin"


def test_admins_cannot_verify_their_own_club_through_the_api(world: World) -> None:
    response = client_for(world.admin).patch(
        f"/api/v1/clubs/{world.club.slug}/",
        {"is_verified": True, "rules": "Be kind"},
        format="json",
    )
    assert response.status_code == 200
    world.club.refresh_from_db()
    assert world.club.rules == "Be kind"
    assert world.club.is_verified is False


def test_club_photo_upload_accepts_png(world: World, media: None) -> None:
    response = client_for(world.admin).patch(
        f"/api/v1/clubs/{world.club.slug}/", {"photo": image_upload()}, format="multipart"
    )
    assert response.status_code == 200, response.content
    assert response.json()["photo"].startswith("/media/clubs/")
    world.club.refresh_from_db()
    world.club.photo.open("rb")
    stored = Image.open(io.BytesIO(world.club.photo.read()))
    world.club.photo.close()
    assert stored.format == "PNG"
    assert stored.size == (8, 8)


def test_club_photo_is_re_encoded_under_a_random_name(world: World, media: None) -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)}  # GPS IFD
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), "purple").save(buffer, "JPEG", exif=exif)
    upload = SimpleUploadedFile("club.html", buffer.getvalue(), content_type="text/html")
    response = client_for(world.admin).patch(
        f"/api/v1/clubs/{world.club.slug}/", {"photo": upload}, format="multipart"
    )
    assert response.status_code == 200, response.content
    world.club.refresh_from_db()
    name = world.club.photo.name.removeprefix("clubs/")
    assert name.endswith(".jpg")
    assert "club" not in name
    assert "html" not in name
    world.club.photo.open("rb")
    raw = world.club.photo.read()
    world.club.photo.close()
    assert Image.open(io.BytesIO(raw)).format == "JPEG"
    assert b"Exif" not in raw


@pytest.mark.parametrize(
    ("upload", "max_bytes", "message"),
    [
        pytest.param(
            lambda: image_upload("GIF", "photo.gif"),
            None,
            "not accepted; use JPEG, PNG or WebP",
            id="gif",
        ),
        pytest.param(lambda: image_upload(size=(64, 64)), 50, "too large", id="too-large"),
    ],
)
def test_club_photo_upload_refuses_wrong_types_and_sizes(
    world: World, media: None, settings: Any, upload: Any, max_bytes: int | None, message: str
) -> None:
    if max_bytes is not None:
        settings.CLUBS_PHOTO_MAX_BYTES = max_bytes
    response = client_for(world.admin).patch(
        f"/api/v1/clubs/{world.club.slug}/", {"photo": upload()}, format="multipart"
    )
    error = assert_error(response, 400, "invalid")
    assert message in error["fields"]["photo"][0]
    world.club.refresh_from_db()
    assert not world.club.photo


def test_club_photo_upload_refuses_files_that_are_not_images(world: World, media: None) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    fake = SimpleUploadedFile("photo.png", b"not an image", content_type="image/png")
    response = client_for(world.admin).patch(
        f"/api/v1/clubs/{world.club.slug}/", {"photo": fake}, format="multipart"
    )
    assert "photo" in assert_error(response, 400, "invalid")["fields"]


def test_club_list_searches_by_name_and_topic() -> None:
    music = TopicFactory(slug="music", name="Music")
    jazz = ClubFactory(name="Jazz Lovers")
    jazz.topics.add(music)
    ClubFactory(name="Chess Club")
    client = client_for(UserFactory())

    def names(query: str) -> list[str]:
        return [club["name"] for club in client.get(f"/api/v1/clubs/?{query}").json()["results"]]

    assert names("q=jazz") == ["Jazz Lovers"]
    assert names("q=music") == ["Jazz Lovers"]
    assert names("topic=music") == ["Jazz Lovers"]
    assert names("q=chess") == ["Chess Club"]


def test_club_list_query_count_does_not_grow_with_clubs() -> None:
    viewer = UserFactory()
    client = client_for(viewer)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/clubs/").status_code == 200
        return len(queries)

    ClubFactory().topics.add(TopicFactory())
    few = count()
    for _ in range(5):
        club = ClubFactory()
        club.topics.add(TopicFactory())
        MembershipFactory(club=club, user=viewer)
    assert count() == few


def test_members_list_query_count_does_not_grow_with_members(world: World) -> None:
    client = client_for(world.member)

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/api/v1/clubs/{world.club.slug}/members/").status_code == 200
        return len(queries)

    few = count()
    for _ in range(5):
        MembershipFactory(club=world.club)
    assert count() == few


def test_my_clubs_lists_clubs_i_am_in_or_follow() -> None:
    me = UserFactory()
    member_of = MembershipFactory(user=me, role=ClubMembership.Role.LEADER).club
    followed = FollowFactory(user=me).club
    ClubFactory()
    results = client_for(me).get("/api/v1/clubs/mine/").json()["results"]
    viewer = {club["slug"]: club["viewer"] for club in results}
    assert viewer == {
        member_of.slug: {"role": "leader", "following": False},
        followed.slug: {"role": None, "following": True},
    }


def test_premium_status_for_me(world: World) -> None:
    PremiumFactory(club=world.club, user=world.member)
    body = client_for(world.member).get(f"/api/v1/clubs/{world.club.slug}/premium/").json()
    assert body["has_access"] is True
    assert body["status"] == "active"
    assert body["source"] == "staff_grant"
    empty = client_for(world.stranger).get(f"/api/v1/clubs/{world.club.slug}/premium/").json()
    assert empty == {
        "has_access": False,
        "status": None,
        "source": None,
        "current_period_end": None,
        "grace_until": None,
    }


def test_nominate_then_approve_through_the_api(world: World) -> None:
    nominee = UserFactory()
    created = client_for(world.member).post(
        f"/api/v1/clubs/{world.club.slug}/nominations/",
        {"user": nominee.pk, "note": "Great host"},
        format="json",
    )
    assert created.status_code == 201
    nomination_id = created.json()["id"]
    pending = client_for(world.admin).get(f"/api/v1/clubs/{world.club.slug}/nominations/")
    assert [n["id"] for n in pending.json()["results"]] == [nomination_id]
    approved = client_for(world.admin).post(
        f"/api/v1/clubs/{world.club.slug}/nominations/{nomination_id}/approve/"
    )
    assert approved.status_code == 200
    assert approved.json()["status"] == "approved"
    assert ClubMembership.objects.filter(club=world.club, user=nominee).exists()


def test_request_then_approve_through_the_api(world: World) -> None:
    Club.objects.filter(pk=world.club.pk).update(join_policy=Club.JoinPolicy.REQUEST)
    created = client_for(world.stranger).post(f"/api/v1/clubs/{world.club.slug}/requests/")
    assert created.status_code == 201
    listed = client_for(world.leader).get(f"/api/v1/clubs/{world.club.slug}/requests/").json()
    assert [r["user"]["id"] for r in listed["results"]] == [world.stranger.pk]
    approved = client_for(world.leader).post(
        f"/api/v1/clubs/{world.club.slug}/requests/{created.json()['id']}/approve/"
    )
    assert approved.json()["status"] == "approved"
    assert ClubMembership.objects.filter(club=world.club, user=world.stranger).exists()


def test_set_role_and_remove_through_the_api(world: World) -> None:
    admin = client_for(world.admin)
    base = f"/api/v1/clubs/{world.club.slug}/members/{world.member.pk}/"
    response = admin.post(base + "role/", {"role": "leader"}, format="json")
    assert response.status_code == 200
    assert response.json()["role"] == "leader"
    assert admin.delete(base).status_code == 204
    assert not ClubMembership.objects.filter(club=world.club, user=world.member).exists()


# --- the error shape for bad input on every endpoint --------------------------------------

BAD_INPUT = [
    # (method, path (after /api/v1/clubs/), body, status, code)
    ("post", "", {}, 400, "invalid"),
    ("post", "", {"name": "X", "join_policy": "whenever"}, 400, "invalid"),
    ("post", "", {"name": "X", "topics": ["no-such-topic"]}, 400, "club_unknown_topic"),
    ("post", "", {"name": "X", "slug": "{slug}"}, 400, "club_slug_taken"),
    ("post", "", {"name": "X", "slug": "mine"}, 400, "club_slug_taken"),
    ("post", "", {"name": "X", "slug": "not a slug"}, 400, "invalid"),
    ("get", "nope/", None, 404, "club_not_found"),
    ("patch", "{slug}/", {"follow_policy": "everyone"}, 400, "invalid"),
    ("patch", "{slug}/", {"name": ""}, 400, "invalid"),
    ("delete", "nope/", None, 404, "club_not_found"),
    ("post", "nope/follow/", None, 404, "club_not_found"),
    ("delete", "nope/follow/", None, 404, "club_not_found"),
    ("post", "nope/join/", None, 404, "club_not_found"),
    ("post", "nope/leave/", None, 404, "club_not_found"),
    ("get", "nope/requests/", None, 404, "club_not_found"),
    ("post", "{slug}/requests/", {"message": "x" * 501}, 400, "invalid"),
    ("post", "{slug}/requests/999999/approve/", None, 404, "club_request_not_found"),
    ("post", "{slug}/requests/999999/reject/", None, 404, "club_request_not_found"),
    ("post", "{slug}/requests/999999/withdraw/", None, 404, "club_request_not_found"),
    ("get", "nope/nominations/", None, 404, "club_not_found"),
    ("post", "{slug}/nominations/", {}, 400, "invalid"),
    ("post", "{slug}/nominations/", {"user": "abc"}, 400, "invalid"),
    ("post", "{slug}/nominations/", {"user": 999999}, 400, "invalid"),
    ("post", "{slug}/nominations/999999/approve/", None, 404, "club_nomination_not_found"),
    ("post", "{slug}/nominations/999999/reject/", None, 404, "club_nomination_not_found"),
    ("post", "{slug}/nominations/999999/withdraw/", None, 404, "club_nomination_not_found"),
    ("get", "nope/members/", None, 404, "club_not_found"),
    ("delete", "{slug}/members/999999/", None, 404, "club_not_member"),
    ("post", "{slug}/members/{member}/role/", {"role": "owner"}, 400, "invalid"),
    ("post", "{slug}/members/{member}/role/", {}, 400, "invalid"),
    ("post", "{slug}/members/999999/role/", {"role": "leader"}, 404, "club_not_member"),
    ("get", "nope/premium/", None, 404, "club_not_found"),
    ("post", "{slug}/reports/", {"reason": "meh"}, 400, "invalid"),
    ("post", "nope/reports/", {"reason": "spam"}, 404, "club_not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    BAD_INPUT,
    ids=[f"{m}-{p}-{c}" for m, p, _, _, c in BAD_INPUT],
)
def test_bad_input_answers_the_error_shape(
    world: World, method: str, path: str, body: Any, status: int, code: str
) -> None:
    path = path.format(slug=world.club.slug, member=world.member.pk)
    if isinstance(body, dict) and "slug" in body:
        body = {**body, "slug": body["slug"].format(slug=world.club.slug)}
    response = getattr(client_for(world.admin), method)(
        f"/api/v1/clubs/{path}", body, format="json"
    )
    assert_error(response, status, code)


def test_malformed_json_answers_the_error_shape(world: World) -> None:
    response = client_for(world.admin).post(
        "/api/v1/clubs/", data="{not json", content_type="application/json"
    )
    assert_error(response, 400, "malformed_request")


def test_invalid_fields_are_named(world: World) -> None:
    response = client_for(world.admin).post("/api/v1/clubs/", {}, format="json")
    assert "name" in assert_error(response, 400, "invalid")["fields"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_club_photo_validator_accepts_jpeg_png_and_webp(fmt: str) -> None:
    from clubs.models import validate_club_photo

    validate_club_photo(image_upload(fmt, f"photo.{fmt.lower()}"))


def test_creating_a_club_with_a_photo_and_topics_by_multipart(media: None) -> None:
    TopicFactory(slug="art")
    response = client_for(UserFactory()).post(
        "/api/v1/clubs/",
        {"name": "Painters", "topics": ["art"], "photo": image_upload("JPEG", "p.jpg")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert response.json()["topics"] == ["art"]
    assert response.json()["photo"].startswith("/media/clubs/")


def test_the_openapi_schema_documents_the_clubs_api(client: Any) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/clubs/",
        "/api/v1/clubs/mine/",
        "/api/v1/clubs/{slug}/nominations/{id}/approve/",
        "/api/v1/clubs/{slug}/members/{user_id}/role/",
        "/api/v1/clubs/{slug}/premium/",
    ):
        assert path in paths, path
    assert "ClubDetail" in schema["components"]["schemas"]
