"""GitHub webhooks through the Django test client (no worker needed)."""

import hashlib
import hmac
import json

import pytest

from builds.models import Job
from tests.support import fixture, github_headers, github_push
from webhooks.models import Delivery

SHA = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"


def post(client, payload, secret="s3cret", event="push", delivery=None, headers=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    h = github_headers(secret, body, event=event, delivery=delivery)
    h.update(headers or {})
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in h.items() if k != "Content-Type"}
    return client.post("/webhooks/github/", data=body, content_type=h.get("Content-Type", ""), **meta)


@pytest.fixture
def repo(make_repository):
    return make_repository("Codertocat/Hello-World")


def test_it_accepts_a_signed_push_and_queues_one_job(client, repo):
    r = post(client, fixture("github", "push__new_branch"))
    assert r.status_code == 202, r.content
    data = r.json()
    job = Job.objects.get()
    assert data["jobs"] == [job.pk]
    assert (job.status, job.event, job.branch, job.commit, job.number) == ("queued", "push", "master", SHA, 1)
    assert job.message == "Initial commit" and job.author == "Codertocat"
    delivery = Delivery.objects.get(pk=data["delivery"])
    assert delivery.outcome == "accepted" and list(delivery.jobs.all()) == [job]


def test_it_numbers_jobs_per_repository(client, repo, make_repository):
    other = make_repository("acme/other")
    for i in range(3):
        p = fixture("github", "push__new_branch")
        p["after"] = f"{i + 1:040x}"
        assert post(client, p).status_code == 202
    p = github_push("acme/other", "f" * 40)
    assert post(client, p).status_code == 202
    assert sorted(Job.objects.filter(repository=repo).values_list("number", flat=True)) == [1, 2, 3]
    assert list(Job.objects.filter(repository=other).values_list("number", flat=True)) == [1]


def test_it_answers_ping(client, repo):
    payload = {"zen": "Keep it logically awesome.", "hook_id": 1, "repository": {"full_name": "Codertocat/Hello-World"}}
    r = post(client, payload, event="ping")
    assert r.status_code == 200
    assert not Job.objects.exists()


def test_it_ignores_branch_deletion(client, repo):
    r = post(client, fixture("github", "push__tag_deleted"))
    assert r.status_code == 200
    assert r.json()["outcome"] == "ignored" and "deleted" in r.json()["reason"]
    assert not Job.objects.exists()
    assert Delivery.objects.get().outcome == "ignored"


def test_it_builds_tags_as_tag_events(client, repo):
    p = fixture("github", "push__new_branch")
    p["ref"] = "refs/tags/v1.0"
    assert post(client, p).status_code == 202
    job = Job.objects.get()
    assert (job.event, job.tag, job.branch) == ("tag", "v1.0", "")


def test_it_ignores_events_that_do_not_build(client, repo):
    r = post(client, {"action": "created", "repository": {"full_name": "Codertocat/Hello-World"}}, event="star")
    assert r.status_code == 200 and r.json()["outcome"] == "ignored"
    assert not Job.objects.exists()


def test_it_skips_ci_skip_commits(client, repo):
    p = fixture("github", "push__new_branch")
    p["head_commit"]["message"] = "docs only [ci skip]"
    r = post(client, p)
    assert r.status_code == 200 and "skip" in r.json()["reason"]
    assert not Job.objects.exists()


def test_it_does_not_build_a_redelivery_twice(client, repo):
    p = fixture("github", "push__new_branch")
    first = post(client, p, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    again = post(client, p, delivery="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert first.status_code == 202 and again.status_code == 200
    assert again.json()["outcome"] == "duplicate" and again.json()["jobs"] == first.json()["jobs"]
    assert Job.objects.count() == 1
    assert list(Delivery.objects.order_by("id").values_list("outcome", flat=True)) == ["accepted", "duplicate"]


def test_it_does_not_build_the_same_push_twice_under_new_delivery_ids(client, repo):
    p = fixture("github", "push__new_branch")
    assert post(client, p).status_code == 202
    r = post(client, p)
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate"
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    "headers,status",
    [
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403),
        ({"X-Hub-Signature-256": "md5=abc"}, 403),
    ],
)
def test_it_rejects_bad_signatures(client, repo, headers, status):
    r = post(client, fixture("github", "push__new_branch"), headers=headers)
    assert r.status_code == status
    assert "signature" in r.json()["reason"].lower()
    assert not Job.objects.exists()
    assert Delivery.objects.get().outcome == "rejected"


def test_it_rejects_a_missing_signature(client, repo):
    body = json.dumps(fixture("github", "push__new_branch")).encode()
    r = client.post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="push",
        HTTP_X_GITHUB_DELIVERY="x",
    )
    assert r.status_code == 401
    assert not Job.objects.exists()


def test_it_rejects_a_body_altered_after_signing(client, repo):
    body = json.dumps(fixture("github", "push__new_branch")).encode()
    headers = github_headers("s3cret", body)
    tampered = body.replace(b"Initial commit", b"Initial commiT")
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    r = client.post("/webhooks/github/", data=tampered, content_type="application/json", **meta)
    assert r.status_code == 403
    assert not Job.objects.exists()


def test_it_rejects_another_repositorys_secret(client, repo, make_repository):
    make_repository("acme/other", webhook_secret="other-secret")
    r = post(client, fixture("github", "push__new_branch"), secret="other-secret")
    assert r.status_code == 403
    assert not Job.objects.exists()


def sha1_post(client, body, delivery, **extra):
    sha1 = "sha1=" + hmac.new(b"s3cret", body, hashlib.sha1).hexdigest()
    return client.post(
        "/webhooks/github/",
        data=body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="push",
        HTTP_X_GITHUB_DELIVERY=delivery,
        HTTP_X_HUB_SIGNATURE=sha1,
        **extra,
    )


def test_it_refuses_the_legacy_sha1_signature_by_default(client, repo):
    body = json.dumps(fixture("github", "push__new_branch")).encode()
    r = sha1_post(client, body, "d-sha1")
    assert r.status_code == 401
    reason = r.json()["reason"]
    assert "SHA-1" in reason and "X-Hub-Signature-256" in reason and "admin" in reason
    d = Delivery.objects.get()
    assert (d.outcome, d.reason, d.authenticated) == ("rejected", reason, False)
    assert not Job.objects.exists()


def test_it_accepts_the_legacy_sha1_signature_where_an_admin_allowed_it(client, repo):
    repo.accept_sha1_signature = True
    repo.save()
    body = json.dumps(fixture("github", "push__new_branch")).encode()
    assert sha1_post(client, body, "d-sha1").status_code == 202
    # A wrong SHA-1 is still wrong.
    p = fixture("github", "push__new_branch")
    p["after"] = "f" * 40
    forged = json.dumps(p).encode()
    r = client.post(
        "/webhooks/github/",
        data=forged,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT="push",
        HTTP_X_GITHUB_DELIVERY="d-forged",
        HTTP_X_HUB_SIGNATURE="sha1=" + "0" * 40,
    )
    assert r.status_code == 403
    # With a (wrong) SHA-256 present, the SHA-1 does not rescue it.
    r = sha1_post(client, body, "d-sha1b", HTTP_X_HUB_SIGNATURE_256="sha256=" + "1" * 64)
    assert r.status_code == 403
    assert Job.objects.count() == 1


def test_it_rejects_non_json(client, repo):
    r = post(client, None, raw=b"{not json")
    assert r.status_code == 400 and r.json()["reason"] == "body is not valid JSON"
    assert Delivery.objects.get().outcome == "rejected"


def test_it_rejects_json_missing_fields(client, repo):
    r = post(client, {"ref": "refs/heads/main", "repository": {"full_name": "Codertocat/Hello-World"}})
    assert r.status_code == 400 and "after" in r.json()["reason"]
    r = post(client, {"ref": "refs/heads/main"})
    assert r.status_code == 400 and "repository.full_name" in r.json()["reason"]
    assert not Job.objects.exists()


def test_it_rejects_a_wrong_content_type(client, repo):
    r = post(
        client,
        None,
        raw=json.dumps(fixture("github", "push__new_branch")).encode(),
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415


def test_it_accepts_form_encoded_payloads(client, repo):
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(fixture("github", "push__new_branch"))}).encode()
    r = post(client, None, raw=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 202, r.content
    assert Job.objects.count() == 1


def test_it_refuses_oversized_bodies_without_reading_them(client, repo, settings):
    settings.HERALD_WEBHOOK_MAX_BYTES = 2048
    body = json.dumps({"padding": "x" * 5000, **fixture("github", "push__new_branch")}).encode()
    r = post(client, None, raw=body)
    assert r.status_code == 413
    d = Delivery.objects.get()
    assert d.outcome == "rejected" and d.body == ""


def test_it_needs_the_event_header(client, repo):
    body = json.dumps(fixture("github", "push__new_branch")).encode()
    r = client.post("/webhooks/github/", data=body, content_type="application/json")
    assert r.status_code == 400 and "X-GitHub-Event" in r.json()["reason"]


def test_it_answers_404_for_an_unknown_repository(client, db):
    r = post(client, fixture("github", "push__new_branch"))
    assert r.status_code == 404 and "no such repository" in r.json()["reason"]
    d = Delivery.objects.get()
    assert d.outcome == "rejected" and "Codertocat/Hello-World is not registered" in d.reason


def test_it_records_but_does_not_build_for_an_inactive_repository(client, repo):
    repo.active = False
    repo.save()
    r = post(client, fixture("github", "push__new_branch"))
    assert r.status_code == 200 and "inactive" in r.json()["reason"]
    assert not Job.objects.exists()


def test_it_matches_repository_names_case_insensitively(client, make_repository):
    make_repository("codertocat/hello-world")
    assert post(client, fixture("github", "push__new_branch")).status_code == 202


def test_it_never_stores_the_secret(client, repo):
    post(client, fixture("github", "push__new_branch"))
    d = Delivery.objects.get()
    assert "s3cret" not in json.dumps(d.headers) + d.body


def test_it_only_accepts_post(client, repo):
    assert client.get("/webhooks/github/").status_code == 405
    assert client.post("/webhooks/nosuchforge/", data=b"{}", content_type="application/json").status_code == 404


def test_an_admin_allows_sha1_from_the_repository_admin_page(client, repo, settings):
    from django.contrib.auth import get_user_model

    # The test settings have no collected static files for the admin's pages.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    client.force_login(get_user_model().objects.create_superuser("root", password="x" * 20))
    r = client.get(f"/admin/repositories/repository/{repo.pk}/change/")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'name="accept_sha1_signature"' in html and "old GitHub Enterprise" in html
