from __future__ import annotations

from django.contrib import admin

from scoring.models import DriftReport, ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("kind", "action", "version", "status", "algorithm", "workspace", "created_at")
    list_filter = ("kind", "status")
    # Status changes go through the audited services (promotion rule, manual promotion).
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("workspace", "status", "trigger", "progress", "created_at", "finished_at")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]


@admin.register(DriftReport)
class DriftReportAdmin(admin.ModelAdmin):
    list_display = ("model_version", "computed_at", "sample_size", "max_psi")
    readonly_fields = [f.name for f in DriftReport._meta.fields]
