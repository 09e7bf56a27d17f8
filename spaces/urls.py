"""Dashboard pages of one space: tokens, settings, audit log, rename and delete.
Mounted under o/<org>/s/<space>/."""

from django.urls import path

from spaces import views

app_name = "spaces"

urlpatterns = [
    path("tokens/", views.tokens, name="tokens"),
    path("settings/", views.settings, name="settings"),
    path("audit/", views.audit_log, name="audit"),
    path("edit/", views.space_edit, name="edit"),
]
