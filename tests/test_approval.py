"""Pull requests from outside wait `blocked` until someone with push rights
approves them (issue 10, section 5): nothing runs, the forge shows a pending
status saying so, and approving queues the whole build; declining ends it
`cancelled` with who declined."""

import pytest
from django.contrib.auth import get_user_model

import forges
from builds.claim import claim_next_job
from builds.lifecycle import restart
from builds.models import Job
from repositories.models import (
    APPROVE_NONE,
    APPROVE_OUTSIDERS,
    ApiToken,
    CommitStatus,
    ForgeAccount,
    Membership,
)
from tests.forges.forge_kit import PR, aim_pr, post

pytestmark = [pytest.mark.django_db(transaction=True)]

REPO = "acme/widgets"
SHA = "0123456789abcdef0123456789abcdef01234567"
NEWER = "89abcdef0123456789abcdef0123456789abcdef"


@pytest.fixture
def repo(make_repository):
    return make_repository(REPO, provider="github")


@pytest.fixture
def people(db, repo):
    User = get_user_model()
    ada, bob = User.objects.create_user("ada"), User.objects.create_user("bob")
    Membership.objects.create(user=ada, repository=repo, permission=Membership.PUSH)
    Membership.objects.create(user=bob, repository=repo, permission=Membership.PULL)
    return {"ada": (ada, ApiToken.issue(ada)), "bob": (bob, ApiToken.issue(bob))}


def github_pr(sha=SHA, fork="mallory/widgets", number=7, action="opened", author=("mallory", 666)):
    event, name = PR["github"][action]
    p = aim_pr("github", name, REPO, sha, number=number)
    if fork:
        p["pull_request"]["head"]["repo"]["full_name"] = fork
    else:
        p["pull_request"]["head"]["repo"]["full_name"] = REPO
    p["pull_request"]["user"] = {"login": author[0], "id": author[1]}
    return p, event


def send_pr(client, **kw):
    payload, event = github_pr(**kw)
    r = post(client, "github", payload, event)
    assert r.status_code == 202, r.content
    return [Job.objects.get(pk=pk) for pk in r.json()["jobs"]]


def api(client, action, job, token):
    return client.post(f"/api/jobs/{job.pk}/{action}", HTTP_AUTHORIZATION=f"Bearer {token}")


# --- what waits --------------------------------------------------------------------


def test_it_blocks_a_pull_request_from_a_fork_and_runs_nothing(client, repo):
    [job] = send_pr(client)
    assert job.status == "blocked" and job.from_fork
    assert job.reason == "Waiting for approval: a pull request from the fork mallory/widgets"
    assert claim_next_job("w") == (None, "nothing-eligible")
    r = client.get(f"/api/jobs/{job.pk}/").json()
    assert r["status"] == "blocked" and r["approved_by"] == "" and r["declined_by"] == ""


def test_a_pull_request_from_the_repository_itself_runs_at_once(client, repo):
    [job] = send_pr(client, fork=None)
    assert job.status == "queued" and not job.from_fork
    assert claim_next_job("w")[0].pk == job.pk


def test_with_approval_off_even_forks_run_at_once(client, repo):
    repo.approval = APPROVE_NONE
    repo.save()
    [job] = send_pr(client)
    assert job.status == "queued"


def test_outsiders_policy_runs_pull_requests_by_people_with_push_rights_only(client, repo, people):
    repo.approval = APPROVE_OUTSIDERS
    repo.save()
    ada, _ = people["ada"]
    bob, _ = people["bob"]
    ForgeAccount.objects.create(user=ada, provider="github", uid="101", login="ada-gh")
    ForgeAccount.objects.create(user=bob, provider="github", uid="202", login="bob-gh")

    # Push rights, even from her own fork.
    [by_ada] = send_pr(client, author=("ada-gh", 101), number=1)
    assert by_ada.status == "queued"
    # Read access is not enough, even from a branch of the repository.
    [by_bob] = send_pr(client, fork=None, author=("bob-gh", 202), number=2, sha=NEWER)
    assert by_bob.status == "blocked"
    assert by_bob.reason == "Waiting for approval: opened by bob-gh, who has no push rights to acme/widgets"
    # Someone who took ada's old login on the forge is not ada: the forge's
    # user id decides.
    [impostor] = send_pr(client, author=("ada-gh", 999), number=3, sha="f" * 40)
    assert impostor.status == "blocked"


@pytest.mark.parametrize(
    "flavor, event_name",
    [
        ("github", "pull_request__opened"),
        ("gitea", "pull_request__opened"),
        ("gogs", "pull_request__opened"),
        ("gitlab", "merge_request__opened"),
        ("bitbucket", "pullrequest__created"),
    ],
)
def test_every_forge_says_who_opened_a_pull_request(flavor, event_name):
    from tests.forges.forge_kit import load, provider_of

    forge = forges.get(provider_of(flavor)).webhook
    parse = forge.merge_request if flavor == "gitlab" else forge.pull_request
    build = parse(load(flavor, event_name))
    fields = build.job_fields()
    assert (fields["author_id"], fields["author_login"]) == {
        "github": ("21031067", "Codertocat"),
        "gitea": ("1", "gordon"),
        "gogs": ("1", "unknwon"),
        # The MR's author (id 51) is not the user who triggered the event.
        "gitlab": ("51", ""),
        "bitbucket": ("{6cb0e486-3c5a-41bb-b009-2142d2cbe5d7}", "6543"),
    }[flavor]
    assert fields["from_fork"] is False


def test_a_github_pull_request_whose_fork_is_gone_counts_as_from_a_fork():
    payload, _ = github_pr()
    payload["pull_request"]["head"]["repo"] = None
    assert forges.get("github").webhook.pull_request(payload).from_fork


# --- approve and decline ---------------------------------------------------------------


def test_approving_over_the_api_queues_the_job_and_it_runs(client, repo, people):
    [job] = send_pr(client)
    _, ada = people["ada"]
    _, bob = people["bob"]
    assert client.post(f"/api/jobs/{job.pk}/approve").status_code == 401
    assert api(client, "approve", job, bob).status_code == 403
    r = api(client, "approve", job, ada)
    assert r.status_code == 202, r.content
    assert (r.json()["status"], r.json()["approved_by"], r.json()["reason"]) == ("queued", "ada", "")
    assert claim_next_job("w")[0].pk == job.pk
    again = api(client, "approve", job, ada)
    assert again.status_code == 409 and again.json()["reason"] == "job is running, not waiting for approval"


def test_declining_cancels_the_job_and_records_who(client, repo, people):
    [job] = send_pr(client)
    _, ada = people["ada"]
    r = api(client, "decline", job, ada)
    assert r.status_code == 202
    assert (r.json()["status"], r.json()["reason"], r.json()["declined_by"]) == ("cancelled", "Declined by ada", "ada")
    # Whoever decided first decides: the job can no longer be approved.
    assert api(client, "approve", job, ada).status_code == 409
    assert Job.objects.get(pk=job.pk).status == "cancelled"
    assert claim_next_job("w") == (None, "nothing-eligible")


def test_a_matrix_build_is_approved_as_a_whole(client, repo, people):
    repo.matrix_hint = [{"py": "3.11"}, {"py": "3.12"}, {"py": "3.13"}]
    repo.save()
    jobs = send_pr(client)
    assert [j.status for j in jobs] == ["blocked"] * 3
    _, ada = people["ada"]
    assert api(client, "approve", jobs[1], ada).status_code == 202
    assert sorted(Job.objects.values_list("status", "approved_by")) == [("queued", "ada")] * 3


def test_a_new_push_to_the_pull_request_needs_a_new_approval(client, repo, people):
    [first] = send_pr(client)
    _, ada = people["ada"]
    assert api(client, "approve", first, ada).status_code == 202
    [second] = send_pr(client, sha=NEWER, action="synchronize")
    assert second.status == "blocked"
    first.refresh_from_db()
    assert (first.status, first.reason) == ("cancelled", f"Superseded by #{second.number}")
    # And an older one still waiting is superseded, never left to approve.
    [third] = send_pr(client, sha="e" * 40, action="synchronize")
    second.refresh_from_db()
    assert (second.status, second.reason) == ("cancelled", f"Superseded by #{third.number}")
    assert third.status == "blocked"


def test_a_rebuild_by_someone_with_push_rights_runs_without_a_new_approval(client, repo, people):
    [job] = send_pr(client)
    ada, token = people["ada"]
    api(client, "decline", job, token)
    new = restart(Job.objects.get(pk=job.pk), user=ada)
    assert new.status == "queued" and new.from_fork and new.triggered_by == "ada"


# --- where people see it -----------------------------------------------------------------


def test_the_job_page_offers_approve_and_decline_to_people_with_push_rights(client, repo, people):
    [job] = send_pr(client)
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Waiting for approval." in html and "status-blocked" in html
    assert 'id="approve"' not in html  # anonymous: read only
    client.force_login(people["ada"][0])
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="approve"' in html and 'id="decline"' in html
    r = client.post(f"/jobs/{job.pk}/approve", follow=True)
    assert "Approved #1: it is queued." in r.content.decode()
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert 'id="approve"' not in html and "Approved</dt><dd>by ada" in html


def test_the_decline_button_needs_push_rights(client, repo, people):
    [job] = send_pr(client)
    client.force_login(people["bob"][0])
    assert client.post(f"/jobs/{job.pk}/decline").status_code == 403
    client.force_login(people["ada"][0])
    client.post(f"/jobs/{job.pk}/decline")
    html = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Declined</dt><dd>by ada" in html and "status-cancelled" in html


def test_blocked_is_a_status_filter_dashboard_count_and_never_a_badge(client, repo, people):
    [blocked] = send_pr(client)
    send_pr(client, fork=None, number=8, sha=NEWER)
    listing = client.get(f"/api/repos/{REPO}/jobs/?status=blocked").json()
    assert [j["id"] for j in listing["jobs"]] == [blocked.pk]
    page = client.get(f"/repos/{REPO}/?status=blocked").content.decode()
    assert page.count("status-blocked") >= 1 and f"/jobs/{blocked.pk}/" in page
    client.force_login(people["ada"][0])
    assert "<b>1</b> waiting for approval" in client.get("/").content.decode()
    # A blocked pull request into main says nothing about main's build.
    assert "unknown" in client.get(f"/badges/{REPO}.svg?branch=main").content.decode()


def test_the_forge_is_told_the_build_waits_for_approval(client, repo, people):
    ada, token = people["ada"]
    repo.enabled_by = ForgeAccount.objects.create(user=ada, provider="github", uid="101", login="ada-gh", token="t")
    repo.save()
    [job] = send_pr(client)
    status = CommitStatus.objects.get(job=job)
    assert (status.job_status, status.state) == ("blocked", "pending")
    assert status.description == "Build #1 is waiting for approval by someone with push rights"
    api(client, "decline", job, token)
    last = CommitStatus.objects.filter(job=job).latest("id")
    assert (last.job_status, last.description) == ("cancelled", "Build #1 was declined by ada")
