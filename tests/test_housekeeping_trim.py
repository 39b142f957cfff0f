"""Records kept for admins don't grow for ever: housekeeping keeps the
newest webhook deliveries per repository and the newest forge events."""

from builds.housekeeping import _trim_records
from repositories.models import ForgeEvent
from webhooks.models import Delivery


def test_housekeeping_keeps_the_newest_deliveries_per_repository_and_forge_events(make_repository, settings):
    settings.HERALD_DELIVERIES_KEPT = 3
    settings.HERALD_FORGE_EVENTS_KEPT = 4
    busy, quiet = make_repository("acme/busy"), make_repository("acme/quiet")
    busy_ids = [
        Delivery.objects.create(provider="github", event="push", outcome="accepted", repository=busy).pk
        for _ in range(7)
    ]
    quiet_ids = [
        Delivery.objects.create(provider="github", event="push", outcome="accepted", repository=quiet).pk
        for _ in range(2)
    ]
    events = [ForgeEvent.record("github", "hook", f"event {i}").pk for i in range(9)]

    _trim_records()

    assert sorted(Delivery.objects.filter(repository=busy).values_list("pk", flat=True)) == busy_ids[-3:]
    assert sorted(Delivery.objects.filter(repository=quiet).values_list("pk", flat=True)) == quiet_ids
    assert sorted(ForgeEvent.objects.values_list("pk", flat=True)) == events[-4:]
    _trim_records()  # nothing more to trim
    assert ForgeEvent.objects.count() == 4 and Delivery.objects.count() == 5


def test_a_flood_of_unsigned_requests_does_not_push_the_forges_deliveries_out(client, make_repository, settings):
    import json

    from tests.support import github_headers, github_push

    settings.HERALD_DELIVERIES_KEPT = 5
    repo = make_repository("acme/widgets")

    def send(sha, secret):
        body = json.dumps(github_push("acme/widgets", sha)).encode()
        meta = {
            f"HTTP_{k.upper().replace('-', '_')}": v
            for k, v in github_headers(secret, body).items()
            if k != "Content-Type"
        }
        return client.post("/webhooks/github/", data=body, content_type="application/json", **meta)

    accepted = [send(f"{i + 1:040x}", "s3cret").json()["delivery"] for i in range(3)]
    flood = [send("f" * 40, "a guess").status_code for _ in range(20)]
    assert set(flood) == {403}

    _trim_records()

    kept = Delivery.objects.filter(repository=repo)
    assert sorted(kept.filter(outcome="accepted").values_list("pk", flat=True)) == sorted(accepted)
    # The strangers' requests are bounded on their own.
    assert kept.filter(authenticated=False).count() == 5
