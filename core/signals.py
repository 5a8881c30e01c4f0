"""In-process domain signals for apps that sit below their listeners in the dependency order.

``change_recorded`` is sent synchronously inside the writer's transaction, so the audit
entry it produces commits or rolls back with the change itself. Apps above ``audit`` may
call ``audit.services.audit_record`` directly instead.
"""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: workspace, actor, action, target_type, target_id, before, after, reason
change_recorded = Signal()
