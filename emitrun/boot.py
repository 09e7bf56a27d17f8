"""What a web worker does once it has loaded the app, before its first request."""

import gc

from django.urls import get_resolver


def ready_to_serve() -> None:
    """Imports the URLconf and every view now, while the worker boots, rather than on the
    first request each worker serves (a few hundred ms of imports in front of someone's
    call). Then moves everything made so far (Django, the URLconf, the views: most of a
    worker's objects, and none of them garbage) out of the cyclic collector's reach: its
    full collections walked them all and held every thread of the worker for 70-170 ms
    (docs/performance.md); they now walk only what requests made.
    """
    get_resolver().resolve("/health/live")
    gc.collect()
    gc.freeze()
