"""Factories for room tests (a minimal local user factory too: tests/factories.py belongs to
the accounts work)."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Block, Follow, Topic, User
from rooms.models import Room, RoomParticipant, ScheduledEvent


class MemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"member{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    display_name = factory.LazyAttribute(lambda o: o.username.title())
    status = User.Status.MEMBER
    joined_at = factory.LazyFunction(timezone.now)


class WaitlistedFactory(MemberFactory):
    status = User.Status.WAITLISTED


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"topic-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class RoomFactory(factory.django.DjangoModelFactory):
    """A live room whose creator is its moderator (as room_create makes it)."""

    class Meta:
        model = Room
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Room {n}")
    type = Room.Type.OPEN
    created_by = factory.SubFactory(MemberFactory)

    @factory.post_generation
    def moderator(self, create: bool, extracted: object, **kwargs: object) -> None:
        if create and self.created_by is not None:
            RoomParticipant.objects.create(
                room=self,
                user=self.created_by,
                role=RoomParticipant.Role.MODERATOR,
                stage_since=timezone.now(),
                muted=False,
            )


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScheduledEvent
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Event {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    created_by = factory.SubFactory(MemberFactory)

    @factory.post_generation
    def hosts(self, create: bool, extracted: object, **kwargs: object) -> None:
        if not create:
            return
        self.hosts.set(extracted if extracted is not None else [self.created_by])


def participant(
    room: Room, user: User, role: str = "listener", **fields: object
) -> RoomParticipant:
    on_stage = role != "listener"
    return RoomParticipant.objects.create(
        room=room,
        user=user,
        role=role,
        stage_since=timezone.now() if on_stage else None,
        muted=fields.pop("muted", True),
        **fields,
    )


def follow(follower: User, followee: User) -> Follow:
    return Follow.objects.create(follower=follower, followee=followee)


def block(blocker: User, blocked: User) -> Block:
    return Block.objects.create(blocker=blocker, blocked=blocked)
