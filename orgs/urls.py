"""Dashboard pages of accounts, organizations and members."""

from django.urls import path

from orgs import views

app_name = "orgs"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/signup/", views.signup, name="signup"),
    path("accounts/profile/", views.account, name="account"),
    path("orgs/new/", views.org_create, name="create"),
    path("o/<slug:org>/", views.org_detail, name="detail"),
    path("o/<slug:org>/members/", views.members, name="members"),
    path("o/<slug:org>/spaces/new/", views.space_create, name="space_create"),
]
