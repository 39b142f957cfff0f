"""ciproject.db.insert: the webhook path's INSERT writes the same row the
ORM would, on both databases."""

from django.db import transaction
from django.forms.models import model_to_dict

from builds.models import Job
from ciproject.db import insert
from webhooks.models import Delivery


def row(obj):
    fresh = type(obj).objects.get(pk=obj.pk)
    data = model_to_dict(fresh)
    data.pop("id")
    data.pop("jobs", None)
    return data


def test_an_inserted_job_is_the_row_the_orm_would_write(make_repository):
    repo = make_repository()
    fields = dict(repository=repo, event="pull_request", ref="refs/pull/7/head", commit="a" * 40,
                  message="Fix ✓", author="ada", pr_number=7, pr_title="Fix", matrix={"python": "3.12"})
    with transaction.atomic():
        by_orm = Job.objects.create(number=1, **fields)
        ours = insert(Job(number=2, **fields))
    assert ours.pk and ours.pk != by_orm.pk and not ours._state.adding
    mine, theirs = row(ours), row(by_orm)
    assert mine.pop("number") == 2 and theirs.pop("number") == 1
    assert abs((Job.objects.get(pk=ours.pk).created_at - by_orm.created_at).total_seconds()) < 5
    mine.pop("created_at"), theirs.pop("created_at")
    assert mine == theirs
    assert Job.objects.get(pk=ours.pk).status == "queued" and Job.objects.get(pk=ours.pk).matrix == {"python": "3.12"}


def test_a_delivery_is_saved_with_its_jobs_in_one_go(make_repository):
    repo = make_repository()
    jobs = [Job.objects.create(repository=repo, number=n, commit="b" * 40) for n in (1, 2)]
    delivery = Delivery(provider="github", delivery_id="d-1", event="push", outcome="accepted",
                        repository=repo, headers={"X-GitHub-Event": "push"}, body="{}")
    delivery.insert_with_jobs([j.pk for j in jobs])
    saved = Delivery.objects.get(pk=delivery.pk)
    assert sorted(saved.jobs.values_list("pk", flat=True)) == sorted(j.pk for j in jobs)
    assert saved.headers == {"X-GitHub-Event": "push"} and saved.received_at is not None
    lonely = Delivery(provider="github", event="ping", outcome="ignored").insert_with_jobs([])
    assert Delivery.objects.get(pk=lonely.pk).jobs.count() == 0
