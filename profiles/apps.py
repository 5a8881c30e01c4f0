from __future__ import annotations

from uuid import UUID

from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core import domain_events
        from profiles.models import ItemEngagement
        from profiles.references import profile_reference_register

        # Engagements follow a merged-away person to the survivor in the merge's transaction;
        # the survivor's vector is rebuilt afterwards in the worker.
        profile_reference_register(model=ItemEngagement, field="profile")

        def on_merged(event: domain_events.DomainEvent) -> None:
            from accounts.models import Workspace
            from profiles.catalog import profile_embedding_merge

            workspace = Workspace.objects.filter(id=event.workspace_id).first()
            if workspace is not None:
                profile_embedding_merge(
                    workspace=workspace,
                    survivor_id=UUID(event.payload["survivor_id"]),
                    merged_ids=[UUID(i) for i in event.payload["merged_ids"]],
                )

        domain_events.subscribe_in_worker(domain_events.PROFILE_MERGED, on_merged, uid="profiles.embedding_merge")

        from profiles.privacy import profiles_erase_for_subject, profiles_export_for_subject
        from profiles.subject_rights import subject_data_register

        # The golden record, identifiers, features, engagements and taste vector of the person.
        subject_data_register(
            uid="profiles.golden_record", export=profiles_export_for_subject, erase=profiles_erase_for_subject
        )
