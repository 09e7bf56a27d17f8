"""Dashboard pages of one space: tokens, settings, audit log, rename and delete.
Mounted under o/<org>/s/<space>/."""

from django.urls import path

from spaces import settings_views, views

app_name = "spaces"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<uuid:token_id>/revoke/", views.token_revoke, name="token_revoke"),
    path("settings/", settings_views.settings, name="settings"),
    path(
        "settings/slack/", settings_views.settings_save, {"section": "slack"}, name="settings_slack"
    ),
    path("settings/push/", settings_views.settings_save, {"section": "push"}, name="settings_push"),
    path(
        "settings/callback/",
        settings_views.settings_save,
        {"section": "callback"},
        name="settings_callback",
    ),
    path("settings/<slug:kind>/test/", settings_views.settings_test, name="settings_test"),
    path(
        "settings/<slug:kind>/deliveries/",
        settings_views.settings_deliveries,
        name="settings_deliveries",
    ),
    path("audit/", views.audit_log, name="audit"),
    path("edit/", views.space_edit, name="edit"),
    path("edit/delete/", views.space_delete, name="delete"),
]
