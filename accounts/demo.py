"""Demo people for `make run`: a staff superuser and a dozen members who follow each other."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

from django.utils import timezone

from accounts.models import Follow, Topic, User

DEMO_PASSWORD = "clubhouse-demo"  # noqa: S105 - printed on purpose, demo accounts only

DEMO_PEOPLE = [
    ("ada", "Ada Lovelace"), ("grace", "Grace Hopper"), ("alan", "Alan Turing"),
    ("katherine", "Katherine Johnson"), ("linus", "Linus Pauling"), ("marie", "Marie Curie"),
    ("nina", "Nina Simone"), ("miles", "Miles Davis"), ("frida", "Frida Kahlo"),
    ("octavia", "Octavia Butler"), ("james", "James Baldwin"), ("hedy", "Hedy Lamarr"),
]  # fmt: skip

TOPICS = [
    ("tech", "Tech"),
    ("music", "Music"),
    ("books", "Books"),
    ("science", "Science"),
    ("art", "Art"),
]


def load() -> Iterator[str]:
    topics = [
        Topic.objects.get_or_create(slug=slug, defaults={"name": name})[0] for slug, name in TOPICS
    ]
    admin_password = secrets.token_urlsafe(12)
    admin, _ = User.objects.get_or_create(
        username="admin",
        defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True},
    )
    admin.is_staff = admin.is_superuser = True
    admin.status = User.Status.MEMBER
    admin.set_password(admin_password)
    admin.save()
    people: list[User] = []
    for index, (username, name) in enumerate(DEMO_PEOPLE):
        person, created = User.objects.get_or_create(
            username=username,
            defaults={
                "email": f"{username}@example.com",
                "display_name": name,
                "status": User.Status.MEMBER,
                "joined_at": timezone.now(),
                "invited_by": people[index - 1] if index else admin,
            },
        )
        if created:
            person.set_password(DEMO_PASSWORD)
            person.save()
            person.topics.set(topics[index % len(topics) : index % len(topics) + 2])
        people.append(person)
    for index, person in enumerate(people):
        for other in (people[(index + 1) % len(people)], people[(index + 3) % len(people)]):
            Follow.objects.get_or_create(follower=person, followee=other)
    yield f"Staff superuser: admin@example.com / {admin_password}   (http://127.0.0.1:8000/admin/)"
    yield f"Demo members: ada@example.com … hedy@example.com, password {DEMO_PASSWORD}"
