import os

from django.core.wsgi import get_wsgi_application

from emitrun.bodylimit import WsgiBodySizeLimit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emitrun.settings")
application = WsgiBodySizeLimit(get_wsgi_application())
