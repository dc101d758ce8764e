"""Factories for the clubs tests; people come from the shared tests/factories.py."""

from __future__ import annotations

import io

import factory
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from accounts.models import Block, User
from clubs.models import Club, ClubFollow, ClubMembership, PremiumMembership
from tests.factories import TopicFactory, UserFactory  # noqa: F401 - re-exported for club tests


class ClubFactory(factory.django.DjangoModelFactory):
    """A club with an admin (`created_by`), open to nominations by default."""

    class Meta:
        model = Club
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Club {n}")
    slug = factory.Sequence(lambda n: f"club-{n}")
    created_by = factory.SubFactory(UserFactory)

    @factory.post_generation
    def admin_membership(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create and self.created_by is not None:
            ClubMembership.objects.create(
                club=self, user=self.created_by, role=ClubMembership.Role.ADMIN
            )


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClubMembership

    club = factory.SubFactory(ClubFactory)
    user = factory.SubFactory(UserFactory)
    role = ClubMembership.Role.MEMBER


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClubFollow

    club = factory.SubFactory(ClubFactory)
    user = factory.SubFactory(UserFactory)


class PremiumFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PremiumMembership

    club = factory.SubFactory(ClubFactory, is_exclusive=True)
    user = factory.SubFactory(UserFactory)
    status = PremiumMembership.Status.ACTIVE
    source = PremiumMembership.Source.STAFF_GRANT


def block(blocker: User, blocked: User) -> Block:
    return Block.objects.create(blocker=blocker, blocked=blocked)


def image_upload(fmt: str = "PNG", name: str = "photo.png", size: tuple[int, int] = (8, 8)):
    buffer = io.BytesIO()
    Image.new("RGB", size, "purple").save(buffer, format=fmt)
    return SimpleUploadedFile(name, buffer.getvalue(), content_type=f"image/{fmt.lower()}")
