from django.utils.translation import gettext_lazy as _

from desk.core.errors import Conflict, ValidationFailed


class IllegalStatusChange(Conflict):
    code = "ticket.illegal_status_change"


class TicketClosed(Conflict):
    code = "ticket.closed"


class BadAttachment(ValidationFailed):
    code = "ticket.bad_attachment"


class CannotMerge(Conflict):
    code = "ticket.cannot_merge"


EMPTY_BODY = _("Write something before sending.")
