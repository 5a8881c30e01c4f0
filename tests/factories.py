"""Factories build objects through the real services, so tests see what users see."""

from __future__ import annotations

from typing import cast

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User

from accounts.models import Workspace
from accounts.roles import Role
from accounts.services import membership_add, secret_key_create, workspace_create

PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


def make_user() -> User:
    return cast(User, UserFactory())


def make_workspace(*, name: str = "Acme", owner: User | None = None) -> Workspace:
    return workspace_create(name=name, owner=owner or make_user())


def make_member(*, workspace: Workspace, role: str = Role.VIEWER) -> User:
    user = make_user()
    membership_add(workspace=workspace, user=user, role=role, actor=None)
    return user


def make_secret_key(*, workspace: Workspace, name: str = "test") -> str:
    _, plaintext = secret_key_create(workspace=workspace, name=name, actor=None)
    return plaintext
