"""Records kept for admins don't grow for ever: housekeeping keeps the
newest webhook deliveries per repository and the newest forge events."""

from builds.tasks import _trim_records
from repositories.models import ForgeEvent
from webhooks.models import Delivery


def test_housekeeping_keeps_the_newest_deliveries_per_repository_and_forge_events(make_repository, settings):
    settings.HERALD_DELIVERIES_KEPT = 3
    settings.HERALD_FORGE_EVENTS_KEPT = 4
    busy, quiet = make_repository("acme/busy"), make_repository("acme/quiet")
    busy_ids = [Delivery.objects.create(provider="github", event="push", outcome="accepted", repository=busy).pk
                for _ in range(7)]
    quiet_ids = [Delivery.objects.create(provider="github", event="push", outcome="accepted", repository=quiet).pk
                 for _ in range(2)]
    events = [ForgeEvent.record("github", "hook", f"event {i}").pk for i in range(9)]

    _trim_records()

    assert sorted(Delivery.objects.filter(repository=busy).values_list("pk", flat=True)) == busy_ids[-3:]
    assert sorted(Delivery.objects.filter(repository=quiet).values_list("pk", flat=True)) == quiet_ids
    assert sorted(ForgeEvent.objects.values_list("pk", flat=True)) == events[-4:]
    _trim_records()  # nothing more to trim
    assert ForgeEvent.objects.count() == 4 and Delivery.objects.count() == 5
