"""Each forge's documented payloads, signed as that forge signs them, sent to a
real Herald (gunicorn + django-q2 qcluster) and built in Docker."""

import concurrent.futures
import json

import pytest

from tests.forges.forge_kit import FLAVORS, PR, PR_REF, PUSH, aim_pr, aim_push, headers, provider_of
from tests.support import git, herald_yml

pytestmark = [pytest.mark.e2e, pytest.mark.docker]


def send(herald, flavor, payload, event, delivery=None):
    body = json.dumps(payload).encode()
    return herald.post(f"/webhooks/{provider_of(flavor)}/", body, headers(flavor, event, body, delivery=delivery))


def pr_only_commit(src, number, ref_template, marker):
    """A commit reachable only from the forge's PR ref, as on the forge: the
    worker must fetch that ref to find it."""
    src.checkout("pr-work", create=True)
    sha = src.commit({".herald.yml": herald_yml(f"echo {marker}")}, "the PR's change")
    git(src.path, "update-ref", ref_template.format(n=number), sha)
    src.checkout("main")
    git(src.path, "branch", "-D", "pr-work")
    return sha


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_signed_push_builds_to_success(live_herald, git_repo, flavor):
    herald = live_herald()
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml(f"echo {flavor}-push-marker")}, "works")
    herald.add_repo("acme/widgets", src.url, provider=provider_of(flavor))

    event, name = PUSH[flavor]
    r = send(herald, flavor, aim_push(flavor, name, "acme/widgets", sha, ref="refs/heads/main"), event)
    assert r.status_code == 202, r.text
    job = herald.wait_job(r.json()["jobs"][0])
    assert job["status"] == "success", herald.log_text(r.json()["jobs"][0])
    assert (job["commit"], job["branch"], job["event"]) == (sha, "main", "push")
    assert f"{flavor}-push-marker" in herald.log_text(r.json()["jobs"][0])


@pytest.mark.parametrize("flavor", ["github", "gitea", "forgejo", "gitlab"])
def test_a_pull_request_builds_its_head_from_the_forges_pr_ref(live_herald, git_repo, flavor):
    herald = live_herald()
    src = git_repo()
    src.commit({".herald.yml": herald_yml("echo main")}, "main")
    sha = pr_only_commit(src, 7, PR_REF[flavor], f"{flavor}-pr-marker")
    herald.add_repo("acme/widgets", src.url, provider=provider_of(flavor))

    event, name = PR[flavor]["opened"]
    r = send(herald, flavor, aim_pr(flavor, name, "acme/widgets", sha, number=7), event)
    assert r.status_code == 202, r.text
    job_id = r.json()["jobs"][0]
    job = herald.wait_job(job_id)
    assert job["status"] == "success", herald.log_text(job_id)
    assert job["commit"] == sha and job["event"] == "pull_request"
    assert f"{flavor}-pr-marker" in herald.log_text(job_id)


def test_concurrent_copies_of_one_push_make_one_job_on_every_forge(live_herald, git_repo):
    herald = live_herald()
    src = git_repo()
    sha = src.commit({".herald.yml": herald_yml("true")}, "one push")
    for flavor in ("gitea", "gogs", "gitlab", "bitbucket"):
        herald.add_repo("acme/widgets", src.url, provider=provider_of(flavor))

    def deliver(args):
        flavor, copy = args
        event, name = PUSH[flavor]
        payload = aim_push(flavor, name, "acme/widgets", sha, ref="refs/heads/main")
        # Half the copies reuse one delivery id (a redelivery), half are new
        # deliveries of the same push: neither may build twice.
        return flavor, send(herald, flavor, payload, event, delivery=f"{flavor}-same" if copy % 2 else None)

    work = [(f, i) for f in ("gitea", "gogs", "gitlab", "bitbucket") for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(deliver, work))
    for flavor in ("gitea", "gogs", "gitlab", "bitbucket"):
        mine = [r for f, r in answers if f == flavor]
        assert all(r.status_code in (200, 202) for r in mine), [r.text for r in mine]
        created = [r for r in mine if r.status_code == 202]
        assert len(created) == 1, (flavor, [r.text for r in mine])
        assert herald.wait_job(created[0].json()["jobs"][0])["status"] == "success"


def test_a_gogs_pull_request_builds_what_its_pr_ref_points_to(live_herald, git_repo):
    # Gogs names no commit in its pull request events: the PR ref decides.
    herald = live_herald()
    src = git_repo()
    src.commit({".herald.yml": herald_yml("echo main")}, "main")
    sha = pr_only_commit(src, 7, "refs/pull/{n}/head", "gogs-pr-marker")
    herald.add_repo("acme/widgets", src.url, provider="gogs")
    event, name = PR["gogs"]["opened"]
    r = send(herald, "gogs", aim_pr("gogs", name, "acme/widgets", sha, number=7), event)
    assert r.status_code == 202, r.text
    job = herald.wait_job(r.json()["jobs"][0])
    assert job["status"] == "success", herald.log_text(job["id"])
    assert job["commit"] == sha, "the job records the commit it built, in full"
    assert "gogs-pr-marker" in herald.log_text(job["id"])


def test_a_bitbucket_pull_request_builds_the_commit_its_short_hash_names(live_herald, git_repo):
    # Bitbucket sends 12-character hashes; the source branch is fetched and
    # must point at a commit starting with them.
    herald = live_herald()
    src = git_repo()
    src.commit({".herald.yml": herald_yml("echo main")}, "main")
    event, name = PR["bitbucket"]["opened"]
    payload = aim_pr("bitbucket", name, "acme/widgets", "0" * 40, number=7)
    payload["pullrequest"]["source"]["repository"]["full_name"] = "acme/widgets"
    branch = payload["pullrequest"]["source"]["branch"]["name"]
    src.checkout(branch, create=True)
    sha = src.commit({".herald.yml": herald_yml("echo bitbucket-pr-marker")}, "the PR's change")
    src.checkout("main")
    payload["pullrequest"]["source"]["commit"]["hash"] = sha[:12]
    herald.add_repo("acme/widgets", src.url, provider="bitbucket")
    r = send(herald, "bitbucket", payload, event)
    assert r.status_code == 202, r.text
    job = herald.wait_job(r.json()["jobs"][0])
    assert job["status"] == "success", herald.log_text(job["id"])
    assert job["commit"] == sha
    assert "bitbucket-pr-marker" in herald.log_text(job["id"])
