from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit.verification import audit_verify


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains; report the first broken link of each chain."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chain", help="Only this chain (a workspace id, or 'global').")

    def handle(self, *args: Any, **options: Any) -> None:
        checked, breaks = audit_verify(chain=options.get("chain"))
        for item in breaks:
            self.stderr.write(f"chain {item.chain}: entry {item.seq}: {item.problem}")
        if breaks:
            raise CommandError(f"audit trail broken in {len(breaks)} chain(s); {checked} entries checked")
        self.stdout.write(f"audit trail intact: {checked} entries checked")
