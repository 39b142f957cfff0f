import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ciproject.settings")
application = get_wsgi_application()

# Deliveries journaled before a restart (the database was away) are
# replayed without waiting for the next webhook to arrive.
from webhooks.views import resume_journal  # noqa: E402

resume_journal()
