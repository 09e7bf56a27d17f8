"""ASGI entry point: HTTP through Django, WebSockets through the job streams (jobs/routing).

The WebSocket side carries the session (cookies, session, user) so a signed-in
dashboard page can open its space's stream without a token.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
django_asgi = get_asgi_application()

# These import models, so Django must be set up first.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from emitrun.bodylimit import BodySizeLimit  # noqa: E402
from jobs.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Oversized bodies are refused before Django buffers or parses them.
        "http": BodySizeLimit(django_asgi),
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
