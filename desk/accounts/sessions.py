"""Django's database sessions, read with a prepared statement.

Every staff page loads its session first. Through the ORM that read cost more CPU than the page's
own ticket query; prepared (`desk.core.prepared`) it is one `execute`. The session is read by its
key and its expiry checked here, which is what `SessionStore._get_session_from_db` asks the
database to do. Writing, cycling and deleting sessions are Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from desk.core.prepared import Prepared

_SESSION: Prepared[Session] = Prepared(lambda key: Session.objects.filter(session_key=key).order_by()[:1])


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Any:
        found = _SESSION(self.session_key) if self.session_key else []
        if found and found[0].expire_date > timezone.now():
            return found[0]
        self._session_key = None
        return None
