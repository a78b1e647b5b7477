import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# Each gunicorn worker imports this module as it starts: load jieba's dictionary before serving, so a
# worker's first new ticket or keyword search does not take ~0.6 s longer than the rest.
from desk.tickets.search import warm_up  # noqa: E402  (apps are loaded by now)

warm_up()
