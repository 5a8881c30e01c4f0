"""Shipped defaults a workspace starts with (starter actions, playbooks, support teams, ...).

accounts cannot import the apps above it, so those apps register an installer from their
``AppConfig.ready``::

    workspace_defaults_register(playbooks_defaults_install, uid="journeys.playbooks")

Installers take ``workspace`` and ``actor`` keyword arguments and must be idempotent: they are
run by the demo seed on every ``make run`` and may be run again from the management command
``workspace_defaults``. They run in registration order, which follows INSTALLED_APPS.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from accounts.models import Workspace

Installer = Callable[..., Any]

_lock = threading.Lock()
_installers: dict[str, Installer] = {}


def workspace_defaults_register(installer: Installer, *, uid: str) -> None:
    with _lock:
        _installers[uid] = installer


def workspace_defaults_install(*, workspace: Workspace, actor: Any = None) -> list[str]:
    """Run every registered installer for ``workspace``; returns the uids that ran."""
    with _lock:
        installers = list(_installers.items())
    for _, installer in installers:
        installer(workspace=workspace, actor=actor)
    return [uid for uid, _ in installers]
