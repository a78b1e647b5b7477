"""The /imports/ page: upload, progress that polls while running, the row-by-row error report."""

from __future__ import annotations

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from desk.orders.imports import process_import
from desk.orders.models import ImportJob
from desk.orders.tests.test_imports import GOOD_CSV

PAGE = "/imports/"


def _file(name="orders.csv", content=GOOD_CSV):
    return SimpleUploadedFile(name, content.encode(), content_type="text/csv")


def test_login_is_required(client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_agents_without_order_import_get_403(client, agent):
    client.force_login(agent)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, {"kind": "orders", "file": _file()}).status_code == 403
    assert not ImportJob.objects.exists()


def test_upload_shows_the_job_with_its_error_report(client, manager, django_capture_on_commit_callbacks):
    client.force_login(manager)
    assert client.get(PAGE).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(PAGE, {"kind": "orders", "file": _file()})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:job", args=[job.pk])
    page = client.get(response["Location"]).content.decode()
    assert 'data-status="done"' in page
    assert 'data-testid="import-errors"' in page
    assert "TM-3" in page
    assert "every 2s" not in page  # finished: no more polling
    assert "orders.csv" in client.get(PAGE).content.decode()


def test_a_running_job_polls_every_two_seconds_until_done(client, manager):
    client.force_login(manager)
    # Without the commit the task is never enqueued: the job stays queued, as while a worker is busy.
    client.post(PAGE, {"kind": "orders", "file": _file()})
    job = ImportJob.objects.get()
    progress_url = reverse("orders:job_progress", args=[job.pk])

    partial = client.get(progress_url, headers={"HX-Request": "true"}).content.decode()
    assert 'hx-trigger="every 2s"' in partial
    assert f'hx-get="{progress_url}"' in partial
    assert 'hx-trigger="every 2s"' in client.get(PAGE).content.decode()

    process_import(job.pk)

    partial = client.get(progress_url + "?full=1").content.decode()
    assert "every 2s" not in partial
    assert 'data-status="done"' in partial
    assert 'data-testid="import-errors"' in partial


def test_bad_uploads_show_a_form_error(client, manager):
    client.force_login(manager)
    wrong = client.post(PAGE, {"kind": "orders", "file": _file("orders.xlsx")})
    assert wrong.status_code == 400
    assert 'data-testid="import-error"' in wrong.content.decode()
    missing = client.post(PAGE, {"kind": "orders"})
    assert missing.status_code == 400
    assert not ImportJob.objects.exists()


def test_unknown_job_is_404(client, manager):
    client.force_login(manager)
    assert client.get(reverse("orders:job", args=[424242])).status_code == 404
