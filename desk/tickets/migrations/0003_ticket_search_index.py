"""Full-text index over Ticket.search_text (jieba tokens separated by spaces).

SQLite: an FTS5 table with external content (the ticket row holds the text once), detail=none and
columnsize=0 because the search only ANDs single words (no phrases, no ranking), kept in step by
triggers on insert, text change and delete. PostgreSQL: a GIN index on the expression the query
uses. The SQL lives in desk/tickets/search_index.py beside the queries that rely on it.
"""

from django.db import migrations


def install(apps, schema_editor):
    from desk.tickets.search_index import install_index

    install_index(schema_editor.connection)


def uninstall(apps, schema_editor):
    from desk.tickets.search_index import uninstall_index

    uninstall_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [("tickets", "0002_default_request_types")]
    operations = [migrations.RunPython(install, uninstall)]
