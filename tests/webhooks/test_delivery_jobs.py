"""A delivery is recorded with the jobs it made or matched."""

from builds.models import Job
from webhooks.models import Delivery


def test_a_delivery_is_saved_with_its_jobs_in_one_go(make_repository):
    repo = make_repository()
    jobs = [Job.objects.create(repository=repo, number=n, commit="b" * 40) for n in (1, 2)]
    delivery = Delivery(
        provider="github",
        delivery_id="d-1",
        event="push",
        outcome="accepted",
        repository=repo,
        headers={"X-GitHub-Event": "push"},
        body="{}",
    )
    delivery.save_with_jobs([j.pk for j in jobs])
    saved = Delivery.objects.get(pk=delivery.pk)
    assert sorted(saved.jobs.values_list("pk", flat=True)) == sorted(j.pk for j in jobs)
    assert saved.headers == {"X-GitHub-Event": "push"} and saved.received_at is not None
    lonely = Delivery(provider="github", event="ping", outcome="ignored").save_with_jobs([])
    assert Delivery.objects.get(pk=lonely.pk).jobs.count() == 0
