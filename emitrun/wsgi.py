import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from emitrun.bodylimit import WsgiBodySizeLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
application = WsgiBodySizeLimit(get_wsgi_application())

# Import the URLconf and every view now, while the worker boots, rather than on the first
# request each worker serves (a few hundred ms of imports in front of someone's call).
get_resolver().resolve("/health/live")
