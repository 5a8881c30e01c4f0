from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from cep.demo import demo_seed


class Command(BaseCommand):
    help = "Create (or reuse) the demo workspace and login, and print how to use them."

    def handle(self, *args: Any, **options: Any) -> None:
        creds = demo_seed()
        self.stdout.write(f"Login: {creds.username} / {creds.password}")
        self.stdout.write(f"Write key: {creds.write_key}")
        self.stdout.write(f"Secret key: {creds.secret_key}")
