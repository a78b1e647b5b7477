"""ASGI entry for WebSockets only (live chat); pages and API are served by gunicorn."""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi = get_asgi_application()

application = ProtocolTypeRouter({"http": django_asgi, "websocket": URLRouter([])})
