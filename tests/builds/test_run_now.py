"""Run now (issue 14 §1): POST /api/repos/<owner>/<name>/builds and the
repository page's form, against real git repositories (the branch resolved
on the clone URL) and, where a step must see its parameters, real Docker."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache

from builds import runnow
from builds.models import Job
from repositories.models import ApiToken, Membership
from tests.builds.helpers import log_of, queue, run_commit, run_next
from tests.support import TEST_IMAGE, Symlink, git

pytestmark = [pytest.mark.django_db(transaction=True)]

PIPELINE = f"""\
image: {TEST_IMAGE}
parameters:
  - name: TARGET
    type: choice
    choices: [staging, production]
    description: Where to deploy
  - name: DRY_RUN
    type: boolean
    default: true
  - name: GREETING
    default: hello
    description: Said first
steps:
  - name: show
    commands:
      - 'echo "target=$TARGET dry=$DRY_RUN greeting=$GREETING event=$HERALD_EVENT"'
"""


@pytest.fixture
def project(git_repo, make_repository, test_image):
    """acme/widgets on a real repository: main with the pipeline, and a
    branch `feature` one commit ahead."""

    class Project:
        pass

    p = Project()
    p.src = git_repo()
    p.first = p.src.commit({".herald.yml": PIPELINE}, message="Add the pipeline")
    p.src.checkout("feature", create=True)
    p.feature = p.src.commit({"feature.txt": "x"}, message="A feature")
    p.src.checkout("main")
    p.repo = make_repository("acme/widgets", clone_url=p.src.url)
    p.user = get_user_model().objects.create_user("ada", password="pw-ada")
    Membership.objects.create(user=p.user, repository=p.repo, permission=Membership.PUSH)
    p.token = ApiToken.issue(p.user)
    return p


def post(client, token, body, name="acme/widgets"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(
        f"/api/repos/{name}/builds",
        data=data,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def ls_remote(src, branch):
    return git(src.path, "ls-remote", src.url, f"refs/heads/{branch}").split()[0]


# --- the API ----------------------------------------------------------------------


@pytest.mark.docker
def test_it_runs_a_branch_through_the_api_and_the_step_sees_the_parameters(project, client):
    r = post(client, project.token, {"branch": "feature", "params": {"TARGET": "production", "DRY_RUN": False}})
    assert r.status_code == 201, r.content
    [answer] = r.json()["jobs"]
    assert answer["event"] == "manual" and answer["branch"] == "feature" and answer["ref"] == "refs/heads/feature"
    assert answer["commit"] == ls_remote(project.src, "feature") == project.feature
    assert answer["triggered_by"] == "ada" and answer["message"] == "A feature" and answer["author"] == "Ada Tester"
    assert answer["params"] == {"TARGET": "production", "DRY_RUN": False, "GREETING": "hello"}

    job = run_next()
    assert job.pk == answer["id"] and job.status == "success", job.reason
    assert "target=production dry=false greeting=hello event=manual\n" in log_of(job)


def test_the_branch_defaults_to_the_default_branch_and_a_commit_on_it_may_be_named(project, client):
    second = project.src.commit({"more.txt": "y"}, message="Second")
    r = post(client, project.token, {})
    assert r.status_code == 201, r.content
    assert [(j["branch"], j["commit"]) for j in r.json()["jobs"]] == [("main", second)]
    r = post(client, project.token, {"commit": project.first[:10]})
    assert r.status_code == 201, r.content
    [job] = r.json()["jobs"]
    assert (job["branch"], job["commit"], job["message"]) == ("main", project.first, "Add the pipeline")


def test_a_matrix_build_answers_with_all_its_jobs(project, client):
    project.src.commit(
        {".herald.yml": PIPELINE.replace("steps:", "matrix:\n  PY: ['3.11', '3.12']\n  DB: [pg, lite]\nsteps:")}
    )
    r = post(client, project.token, {"params": {"GREETING": "hi"}})
    assert r.status_code == 201, r.content
    jobs = r.json()["jobs"]
    assert len(jobs) == 4 and len({j["id"] for j in jobs}) == 4
    assert {json.dumps(j["matrix"], sort_keys=True) for j in jobs} == {
        json.dumps({"PY": py, "DB": db}, sort_keys=True) for py in ("3.11", "3.12") for db in ("pg", "lite")
    }
    assert {j["group"] for j in jobs} == {jobs[0]["id"]}
    assert all(j["event"] == "manual" and j["params"]["GREETING"] == "hi" for j in jobs)
    assert Job.objects.filter(repository=project.repo).count() == 4


@pytest.mark.parametrize(
    "body, status, reason",
    [
        ({"branch": "nope"}, 400, "There is no branch 'nope' in acme/widgets"),
        ({"branch": "a..b"}, 400, "'a..b' is not a branch name: it contains \"..\""),
        (
            {"params": {"COLOUR": "red"}},
            400,
            "unknown parameter 'COLOUR' (the pipeline declares: TARGET, DRY_RUN, GREETING)",
        ),
        ({"params": {"DRY_RUN": "no"}}, 400, "parameter DRY_RUN is a boolean: give true or false, not 'no'"),
        ({"params": {"GREETING": 3}}, 400, "parameter GREETING is a string: give a string, not the number 3"),
        ({"params": {"TARGET": "prod"}}, 400, "parameter TARGET must be one of staging, production, not 'prod'"),
        ({"params": ["TARGET"]}, 400, "params must be an object of name: value"),
        ({"commit": "xyz"}, 400, "'xyz' is not a commit: give 7 to 40 hexadecimal characters"),
        ({"commit": "0" * 40}, 400, f"Commit {'0' * 40} is not on main (its head or one of the 200 commits before it)"),
        ({"branch": ["main"]}, 400, "branch and commit must be strings"),
        ({"brunch": "main"}, 400, "unknown field 'brunch' (allowed: branch, commit, params)"),
        (b"{not json", 400, "the body must be a JSON object"),
        (b"[1]", 400, "the body must be a JSON object"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_creates_nothing(project, client, body, status, reason):
    r = post(client, project.token, body)
    assert (r.status_code, r.json()) == (status, {"reason": reason})
    assert not Job.objects.exists()


def test_a_commit_of_another_branch_is_not_run_under_this_ones_name(project, client):
    r = post(client, project.token, {"branch": "main", "commit": project.feature})
    assert r.status_code == 400
    assert (
        r.json()["reason"] == f"Commit {project.feature} is not on main (its head or one of the 200 commits before it)"
    )
    assert not Job.objects.exists()


def test_a_pipeline_whose_parameters_are_wrong_is_refused_with_its_line(project, client):
    bad = project.src.commit({".herald.yml": PIPELINE.replace("default: true", "default: maybe")})
    r = post(client, project.token, {})
    assert r.status_code == 400
    assert r.json()["reason"] == (
        f"The pipeline of main at {bad[:12]} is invalid: .herald.yml, line 9, parameters[1].default: must be true or false"
    )


def test_a_pipeline_file_linking_outside_the_repository_is_refused(project, client):
    head = project.src.commit({".herald.yml": Symlink("../../etc/passwd")})
    r = post(client, project.token, {})
    assert r.status_code == 400
    assert r.json()["reason"] == (
        f"The pipeline of main at {head[:12]} is invalid: .herald.yml is a symbolic link that leads outside "
        "the repository: Herald reads only files inside the checkout"
    )


def test_a_linked_pipeline_file_inside_the_repository_is_read(project, client):
    project.src.commit({"ci/herald.yml": PIPELINE, ".herald.yml": Symlink("ci/herald.yml")})
    r = post(client, project.token, {"params": {"TARGET": "staging"}})
    assert r.status_code == 201, r.content


def test_an_unreadable_clone_url_is_a_502_with_the_reason(project, client):
    project.repo.clone_url = f"file://{project.src.path}-gone"
    project.repo.save()
    r = post(client, project.token, {})
    assert r.status_code == 502
    assert r.json()["reason"].startswith(f"Could not read the branches of file://{project.src.path}-gone")


def test_it_needs_push_rights(project, client, make_repository):
    reader = get_user_model().objects.create_user("rita")
    Membership.objects.create(user=reader, repository=project.repo, permission=Membership.PULL)
    r = post(client, ApiToken.issue(reader), {})
    assert (r.status_code, r.json()) == (403, {"reason": "You need push access to acme/widgets"})
    # A private repository the caller cannot see does not exist for them.
    make_repository("acme/secret", clone_url=project.src.url, private=True)
    r = post(client, project.token, {}, name="acme/secret")
    assert (r.status_code, r.json()) == (404, {"reason": "No such repository"})
    r = client.post("/api/repos/acme/widgets/builds", data="{}", content_type="application/json")
    assert r.status_code == 401
    ApiToken.objects.filter(user=project.user).update(read_only=True)
    r = post(client, project.token, {})
    assert (r.status_code, r.json()) == (403, {"reason": "this API token is read-only: it may only read (GET)"})
    assert not Job.objects.exists()


def test_an_inactive_repository_runs_nothing(project, client):
    project.repo.active = False
    project.repo.save()
    r = post(client, project.token, {})
    assert r.status_code == 409
    assert r.json()["reason"] == "acme/widgets is inactive: it builds nothing until an admin activates it"


# --- pushes and rebuilds --------------------------------------------------------------


@pytest.mark.docker
def test_a_push_gets_the_defaults(project):
    job = run_commit(project.repo, project.first)
    assert job.status == "success", job.reason
    assert "target=staging dry=true greeting=hello event=push\n" in log_of(job)


@pytest.mark.docker
def test_a_value_the_commits_file_does_not_allow_ends_the_job_errored_with_the_reason(project):
    # Never made by run-now (it checks the same file first): a job row
    # written by other means still cannot smuggle a variable into the steps.
    job = queue(project.repo, project.first, event="manual", params={"PATH": "/tmp"})
    job = run_next()
    assert job.status == "errored"
    assert job.reason == "unknown parameter 'PATH' (the pipeline declares: TARGET, DRY_RUN, GREETING)"
    assert "Error: unknown parameter 'PATH'" in log_of(job)


def test_a_rebuild_keeps_the_commit_event_and_parameters_and_records_who(project, client):
    r = post(client, project.token, {"branch": "feature", "params": {"TARGET": "production"}})
    first = Job.objects.get(pk=r.json()["jobs"][0]["id"])
    Job.objects.filter(pk=first.pk).update(status="failed")
    owner = get_user_model().objects.create_user("otto")
    Membership.objects.create(user=owner, repository=project.repo, permission=Membership.ADMIN)
    r = client.post(f"/api/jobs/{first.pk}/restart", HTTP_AUTHORIZATION=f"Bearer {ApiToken.issue(owner)}")
    assert r.status_code == 201
    again = Job.objects.get(pk=r.json()["id"])
    assert (again.event, again.commit, again.branch) == ("manual", project.feature, "feature")
    assert again.params == first.params == {"TARGET": "production", "DRY_RUN": True, "GREETING": "hello"}
    assert (again.triggered_by, again.restarted_from_id) == ("otto", first.pk)


# --- the form on the repository page ------------------------------------------------


def test_the_repository_page_never_waits_on_the_forge_for_the_form(project, client, monkeypatch):
    client.force_login(project.user)

    def no_network(*args, **kwargs):
        raise AssertionError("the repository page asked the forge")

    monkeypatch.setattr(runnow, "branch_head", no_network)
    monkeypatch.setattr(runnow, "resolve", no_network)
    cache.clear()  # nothing read yet (an earlier test's repository may share the id)
    page = client.get("/repos/acme/widgets/").content.decode()
    # Nothing read yet: a link to the form, which the page's script swaps in.
    assert 'id="run-now-form"' not in page
    assert 'id="run-now" data-fill-from="/repos/acme/widgets/run?provider=github"' in page


def test_the_repository_page_shows_the_parameters_as_typed_fields(project, client):
    client.force_login(project.user)
    # What the page's script fetches (and, once read, the page shows itself).
    fetched = client.get("/repos/acme/widgets/run?provider=github").content.decode()
    assert '<section class="card run-now" id="run-now">' in fetched and 'id="run-now-form"' in fetched
    page = client.get("/repos/acme/widgets/").content.decode()
    assert 'id="run-now-form"' in page
    assert '<select name="param-TARGET"' in page and '<option value="production">production</option>' in page
    assert '<option value="staging" selected>staging</option>' in page
    assert 'type="checkbox" name="param-DRY_RUN"' in page and "checked" in page.split('name="param-DRY_RUN"')[1][:40]
    assert 'type="text" name="param-GREETING" value="hello"' in page
    assert "Where to deploy" in page and 'name="branch" value="main"' in page

    reader = get_user_model().objects.create_user("rita")
    Membership.objects.create(user=reader, repository=project.repo, permission=Membership.PULL)
    client.force_login(reader)
    assert 'id="run-now-form"' not in client.get("/repos/acme/widgets/").content.decode()


def test_the_form_runs_the_build_and_goes_to_its_job(project, client):
    client.force_login(project.user)
    r = client.post(
        "/repos/acme/widgets/run",
        {"branch": "main", "commit": "", "param-TARGET": "production", "param-GREETING": "hey"},
    )
    job = Job.objects.get()
    assert r.status_code == 302 and r.url == f"/jobs/{job.pk}/"
    assert (job.event, job.commit, job.triggered_by) == ("manual", project.first, "ada")
    # An unticked checkbox is false.
    assert job.params == {"TARGET": "production", "DRY_RUN": False, "GREETING": "hey"}
    page = client.get(r.url).content.decode()
    assert "manual · <b>main</b> · by ada" in page
    assert "<code>TARGET=production</code> <code>DRY_RUN=false</code> <code>GREETING=hey</code>" in page


@pytest.mark.parametrize(
    "data, reason",
    [
        ({"param-TARGET": "prod"}, "Select a valid choice. prod is not one of the available choices."),
        ({"branch": "nope"}, "There is no branch &#x27;nope&#x27; in acme/widgets"),
        (
            {"param-COLOUR": "red"},
            "unknown parameter &#x27;COLOUR&#x27; (the pipeline of this branch declares: TARGET, DRY_RUN, GREETING)",
        ),
    ],
)
def test_the_form_shows_itself_again_with_the_reason(project, client, data, reason):
    client.force_login(project.user)
    r = client.post("/repos/acme/widgets/run", {"branch": "main", "param-TARGET": "staging", **data})
    assert r.status_code == 400
    assert reason in r.content.decode()
    assert 'id="run-now-form"' in r.content.decode()
    assert not Job.objects.exists()


def test_the_form_of_another_branch_shows_that_branchs_parameters(project, client):
    project.src.checkout("feature")
    project.src.commit({".herald.yml": f"image: {TEST_IMAGE}\nparameters:\n  - name: ONLY_HERE\ncommands: [env]\n"})
    client.force_login(project.user)
    page = client.get("/repos/acme/widgets/run?branch=feature").content.decode()
    assert 'name="param-ONLY_HERE"' in page and 'name="param-TARGET"' not in page
    r = client.post("/repos/acme/widgets/run", {"branch": "feature", "param-TARGET": "staging"})
    assert r.status_code == 400 and "unknown parameter &#x27;TARGET&#x27;" in r.content.decode()
    r = client.post("/repos/acme/widgets/run", {"branch": "feature", "param-ONLY_HERE": "yes"})
    assert r.status_code == 302 and Job.objects.get().params == {"ONLY_HERE": "yes"}


def test_strangers_get_the_sign_in_page_or_nothing(project, client):
    r = client.post("/repos/acme/widgets/run", {"branch": "main"})
    assert r.status_code == 302 and r.url.startswith("/login/")
    outsider = get_user_model().objects.create_user("olga")
    client.force_login(outsider)
    assert client.post("/repos/acme/widgets/run", {"branch": "main"}).status_code == 403
    assert not Job.objects.exists()
