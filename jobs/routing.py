"""WebSocket routes (API.md "Streams"); emitrun/asgi.py mounts them."""

from django.urls import path

from jobs.consumers import SpooledConsumer, StreamConsumer

websocket_urlpatterns = [
    path("api/v1/ws", SpooledConsumer.as_asgi()),
    path("api/v1/realtime/spaces/<str:space_id>", StreamConsumer.as_asgi()),
    path("api/v1/realtime/<str:job_id>", StreamConsumer.as_asgi()),
]
