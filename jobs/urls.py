"""Dashboard pages of one space's jobs: overview, jobs table, job page, dead letters.
Mounted under o/<org>/s/<space>/."""

from django.urls import path

from jobs.views import dead, jobs, overview

app_name = "jobs"

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("jobs/", jobs.job_list, name="list"),
    path("jobs/<uuid:job_id>/", jobs.job_detail, name="detail"),
    path("dead/", dead.dead_letters, name="dead"),
]
