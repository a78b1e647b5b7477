"""A worker that dies mid-import, or an enqueue that was lost, does not lose the upload."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from huey.contrib.djhuey import HUEY

from desk.core.models import Event
from desk.orders.imports import process_import, recover_stalled_imports, start_import
from desk.orders.models import ImportJob, ImportStatus, Order
from desk.orders.tests.test_imports import GOOD_CSV


def _queued_job(manager):
    # Queue the job without running it: the on_commit enqueue never fires inside the test transaction.
    return start_import(SimpleUploadedFile("orders.csv", GOOD_CSV.encode(), "text/csv"), "orders", by=manager)


def test_a_job_whose_enqueue_was_lost_is_requeued_and_runs_once(manager):
    job = _queued_job(manager)
    assert HUEY.immediate
    assert recover_stalled_imports() == {"requeued": 0, "restarted": 0}  # too fresh to call lost

    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert recover_stalled_imports() == {"requeued": 1, "restarted": 0}
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert job.succeeded_rows == 3
    assert Order.objects.count() == 2  # TM-1 (two item rows) and TM-2; the other rows are bad


def test_a_job_whose_worker_died_restarts_from_the_top_without_duplicates(manager):
    job = _queued_job(manager)
    process_import(job.pk)
    orders = Order.objects.count()
    # Simulate the worker dying after the first chunk: the job stays "running" with an old heartbeat.
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, processed_rows=2)

    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        assert recover_stalled_imports() == {"requeued": 0, "restarted": 1}
        assert recover_stalled_imports() == {"requeued": 0, "restarted": 0}
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert job.processed_rows == job.total_rows
    assert Order.objects.count() == orders
    assert Event.objects.filter(verb="import.restarted", subject_id=job.pk).count() == 1
