from django.contrib import admin

from spaces.models import ApiToken, Space, SpaceSettings


class SpaceSettingsInline(admin.StackedInline):
    model = SpaceSettings
    can_delete = False


@admin.register(Space)
class SpaceAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "organization",
        "delivery_timeout_seconds",
        "retention_days",
        "created_at",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "slug", "id"]
    inlines = [SpaceSettingsInline]


@admin.register(SpaceSettings)
class SpaceSettingsAdmin(admin.ModelAdmin):
    list_display = ["space", "slack_webhook_url", "push_url", "updated_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "space", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["space"]
    search_fields = ["name", "prefix"]
    # The secret is never stored; its hash is useless to show and never editable.
    exclude = ["secret_hash"]
    readonly_fields = ["prefix", "created_at", "last_used_at"]

    def has_add_permission(self, request: object) -> bool:
        return False  # tokens are issued by `manage.py createtoken` or the dashboard
