import os

from django.core.wsgi import get_wsgi_application

from emitrun.bodylimit import WsgiBodySizeLimit
from emitrun.boot import ready_to_serve

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
application = WsgiBodySizeLimit(get_wsgi_application())
ready_to_serve()
