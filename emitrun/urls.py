from django.contrib import admin
from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from emitrun import health, metrics
from emitrun.errors import error_body
from orgs.views import accounts as account_views


def api_not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """Any unknown path under /api/ answers the JSON error body, never an HTML page."""
    return JsonResponse(
        error_body("NOT_FOUND", f"No route {request.method} {request.path}"), status=404
    )


urlpatterns = [
    path("api/v1/", include("jobs.api.urls")),  # first: tried on every request
    path("health", health.health),
    path("health/live", health.live),
    path("health/ready", health.ready),
    path("metrics", metrics.metrics_view),
    path("", include("jobs.api.realtime")),  # Spooled realtime: login, refresh, SSE
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    re_path(r"^api/", api_not_found),
    path("admin/", admin.site.urls),
    # The dashboard.
    # Ours, ahead of Django's: throttled sign-in, and reset reaching invited people too.
    path("accounts/login/", account_views.sign_in, name="login"),
    path("accounts/password_reset/", account_views.password_reset, name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("o/<slug:org>/s/<slug:space>/", include("jobs.urls")),
    path("o/<slug:org>/s/<slug:space>/", include("spaces.urls")),
    path("", include("orgs.urls")),
]
