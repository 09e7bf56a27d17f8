"""Dashboard pages of accounts, organizations and members."""

from django.urls import path

from orgs.views import accounts, members, organizations

app_name = "orgs"

urlpatterns = [
    path("", organizations.home, name="home"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/profile/", accounts.account, name="account"),
    path("orgs/new/", organizations.org_create, name="create"),
    path("o/<slug:org>/", organizations.org_detail, name="detail"),
    path("o/<slug:org>/members/", members.members, name="members"),
    path("o/<slug:org>/members/<int:member_id>/role/", members.member_role, name="member_role"),
    path(
        "o/<slug:org>/members/<int:member_id>/remove/", members.member_remove, name="member_remove"
    ),
    path("o/<slug:org>/spaces/new/", organizations.space_create, name="space_create"),
]
