"""Branch and tag names: whatever git accepts builds (non-ASCII included),
whatever git refuses is refused at the door with git's reason."""

import subprocess

import pytest

from builds.models import Job
from builds.refs import ref_problem
from tests.forges.forge_kit import FLAVORS, PUSH, TAG, aim_push, post, soft
from webhooks.models import Delivery

SHA = "1234567890abcdef1234567890abcdef12345678"
REPO = "acme/widgets"

# (branch name, what the reason quotes)
BAD_NAMES = [
    ("a..b", '".."'),
    ("a~1", '"~"'),
    ("a^2", '"^"'),
    ("a:b", '":"'),
    ("a\x07b", "control character"),
    ("a\x7fb", "control character"),
    ("x.lock", '".lock"'),
    ("x.lock/y", '".lock"'),
    ("a@{1}", '"@{"'),
    ("a b", "space"),
    ("a\\b", '"\\"'),
    ("a?", '"?"'),
    ("a*", '"*"'),
    ("a[b", '"["'),
    (".hidden", 'begins with "."'),
    ("x/.y", 'begins with "."'),
    ("a//b", '"//"'),
    ("a/", '"/"'),
    ("a.", 'ends with "."'),
    ("-x", 'begins with "-"'),
]
GOOD_NAMES = ["feature/café", "日本語/ブランチ", "émoji-🚀", "release/1.0", "a@b", "a.lock.b", "user+fix", "@x"]


@pytest.mark.parametrize("name", [n for n, _ in BAD_NAMES if n != "-x"] + GOOD_NAMES + ["@", "a" * 300])
def test_it_agrees_with_git_check_ref_format(name):
    ref = f"refs/heads/{name}"
    git_says = subprocess.run(["git", "check-ref-format", ref], capture_output=True).returncode == 0
    if len(ref) > 255:
        # Longer than Herald's columns: refused although git would take it.
        assert git_says and "longer than 255" in ref_problem(ref)
    else:
        assert git_says == (ref_problem(ref) == ""), ref_problem(ref)


def test_text_that_is_not_utf8_is_no_ref():
    assert "UTF-8" in ref_problem("refs/heads/acme\ud800")
    assert ref_problem("refs/heads/a\x00b") == "it contains a control character"


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name", ["feature/café", "日本語/ブランチ"])
def test_non_ascii_branch_names_build(client, repo_for, flavor, name):
    repo_for(flavor)
    event, fixture = PUSH[flavor]
    r = post(client, flavor, aim_push(flavor, fixture, REPO, SHA, ref=f"refs/heads/{name}"), event)
    assert r.status_code == 202, r.content
    job = Job.objects.get()
    assert (job.branch, job.ref, job.commit) == (name, f"refs/heads/{name}", SHA)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_non_ascii_tag_names_build(client, repo_for, flavor):
    repo_for(flavor)
    event, fixture = TAG[flavor]
    r = post(client, flavor, aim_push(flavor, fixture, REPO, SHA, ref="refs/tags/version-été"), event)
    assert r.status_code == 202, r.content
    assert Job.objects.get().tag == "version-été"


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("name,why", BAD_NAMES)
def test_branch_names_git_refuses_are_refused_at_the_door(client, repo_for, flavor, name, why):
    repo_for(flavor)
    event, fixture = PUSH[flavor]
    r = post(client, flavor, aim_push(flavor, fixture, REPO, SHA, ref=f"refs/heads/{name}"), event)
    assert r.status_code == soft(flavor, 400), r.content
    reason = r.json()["reason"]
    assert why in reason and "\n" not in reason
    d = Delivery.objects.get(pk=r.json()["delivery"])
    assert (d.outcome, d.reason) == ("rejected", reason)
    assert not Job.objects.exists()


@pytest.mark.e2e
@pytest.mark.docker
def test_a_non_ascii_branch_builds_end_to_end(live_herald, git_repo):
    from tests.support import herald_yml

    herald = live_herald()
    src = git_repo()
    src.checkout("feature/café", create=True)
    sha = src.commit({".herald.yml": herald_yml("echo built-café")}, "café")
    herald.add_repo("acme/widgets", src.url)
    r = herald.push_github("acme/widgets", sha, branch="feature/café")
    assert r.status_code == 202, r.text
    job = herald.wait_job(r.json()["jobs"][0])
    assert job["status"] == "success", herald.log_text(job["id"])
    assert job["branch"] == "feature/café" and "built-café" in herald.log_text(job["id"])
