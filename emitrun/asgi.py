"""ASGI entry point: HTTP through Django. WebSocket routes join here (jobs/consumers)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402 - needs Django set up first

application = ProtocolTypeRouter({"http": django_asgi})
