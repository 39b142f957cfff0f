"""GET/POST /api/repos/<owner>/<name>/schedules, GET/PATCH/DELETE
/api/schedules/<id> (issue 14 §2): read rights to see, push rights to
change, bad input answered 400 with the reason and nothing saved."""

import json

import pytest

from builds.models import Schedule
from builds.schedules.cron import next_time
from repositories.models import ApiToken
from tests.builds import schedules_kit

pytestmark = [pytest.mark.django_db(transaction=True)]
project = schedules_kit.project  # the fixture

NIGHTLY = {"name": "nightly", "cron": "30 2 * * *", "timezone": "Europe/Paris", "branch": "nightly"}


def call(client, method, path, token=None, body=None):
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return getattr(client, method)(path, data=data or "", content_type="application/json", **headers)


def create(client, project, body=NIGHTLY):
    r = call(client, "post", "/api/repos/acme/widgets/schedules", project.token, body)
    assert r.status_code == 201, r.content
    return r.json()


def test_it_creates_a_schedule_and_lists_it(project, client):
    answer = create(client, project, {**NIGHTLY, "params": {"TARGET": "production"}})
    s = Schedule.objects.get()
    assert answer["id"] == s.pk
    assert {k: answer[k] for k in ("repository", "name", "cron", "timezone", "branch", "params", "enabled")} == {
        "repository": "acme/widgets",
        "name": "nightly",
        "cron": "30 2 * * *",
        "timezone": "Europe/Paris",
        "branch": "nightly",
        "params": {"TARGET": "production"},
        "enabled": True,
    }
    # The next run in the schedule's zone: 02:30 Paris time, with its offset.
    assert answer["next_run"] == next_time("30 2 * * *", "Europe/Paris", s.created_at).isoformat()
    assert answer["next_run"][11:16] == "02:30" and answer["next_run"][-6:] in ("+01:00", "+02:00")
    assert (answer["last_job"], answer["last_error"], answer["created_by"]) == (None, "", "ada")

    # Anyone who may read the repository sees it.
    r = call(client, "get", "/api/repos/acme/widgets/schedules", ApiToken.issue(project.rita))
    assert r.status_code == 200
    assert [s["name"] for s in r.json()["schedules"]] == ["nightly"]
    r = call(client, "get", f"/api/schedules/{s.pk}", ApiToken.issue(project.rita))
    assert (r.status_code, r.json()["cron"]) == (200, "30 2 * * *")


def test_the_defaults_are_the_default_branch_utc_and_enabled(project, client):
    answer = create(client, project, {"name": "hourly", "cron": "0  *  * * *"})
    assert (answer["cron"], answer["timezone"], answer["branch"], answer["enabled"]) == ("0 * * * *", "UTC", "", True)


@pytest.mark.parametrize(
    "body, reason",
    [
        (
            {"cron": "61 2 * * *"},
            "cron: '61 2 * * *' does not parse: [61 2 * * *] is not acceptable, out of range",
        ),
        (
            {"cron": "0 0 2 * * *"},
            "cron: a cron expression has exactly 5 fields (minute hour day-of-month month day-of-week), "
            "'0 0 2 * * *' has 6",
        ),
        (
            {"timezone": "Europe/Pariss"},
            "timezone: 'Europe/Pariss' is not a time zone: give an IANA name such as Europe/Paris or UTC",
        ),
        ({"branch": "gone"}, "There is no branch 'gone' in acme/widgets"),
        ({"branch": "a..b"}, "'a..b' is not a branch name: it contains \"..\""),
        (
            {"params": {"COLOUR": "red"}},
            "params: unknown parameter 'COLOUR' (the pipeline declares: TARGET, DRY_RUN)",
        ),
        ({"params": {"DRY_RUN": "no"}}, "params: parameter DRY_RUN is a boolean: give true or false, not 'no'"),
        ({"name": ""}, "name: This field is required."),
        ({"cron": 5}, "cron must be a string"),
        ({"params": ["TARGET"]}, "params must be an object"),
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"when": "daily"}, "unknown field 'when' (allowed: name, cron, timezone, branch, params, enabled)"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_saves_nothing(project, client, body, reason):
    r = call(client, "post", "/api/repos/acme/widgets/schedules", project.token, {**NIGHTLY, **body})
    assert r.status_code == 400, r.content
    assert r.json()["reason"] == reason
    assert not Schedule.objects.exists()


@pytest.mark.parametrize("raw", [b"{not json", b"[1]", b'"nightly"'])
def test_a_body_that_is_not_an_object_is_refused(project, client, raw):
    r = call(client, "post", "/api/repos/acme/widgets/schedules", project.token, raw)
    assert (r.status_code, r.json()) == (400, {"reason": "the body must be a JSON object"})


def test_a_name_is_used_once_per_repository(project, client):
    create(client, project)
    r = call(client, "post", "/api/repos/acme/widgets/schedules", project.token, NIGHTLY)
    assert r.status_code == 400
    assert r.json()["reason"] == "name: acme/widgets already has a schedule named 'nightly'"
    assert Schedule.objects.count() == 1


def test_an_unreadable_repository_is_a_502(project, client):
    project.repo.clone_url = f"file://{project.src.path}-gone"
    project.repo.save()
    r = call(client, "post", "/api/repos/acme/widgets/schedules", project.token, NIGHTLY)
    assert r.status_code == 502
    assert r.json()["reason"].startswith(f"Could not read the branches of file://{project.src.path}-gone")


def test_patch_changes_what_it_names_and_checks_the_whole(project, client):
    s = create(client, project)
    r = call(client, "patch", f"/api/schedules/{s['id']}", project.token, {"cron": "0 4 * * mon", "enabled": False})
    assert r.status_code == 200, r.content
    assert (r.json()["cron"], r.json()["enabled"], r.json()["next_run"], r.json()["branch"]) == (
        "0 4 * * mon",
        False,
        None,
        "nightly",
    )
    r = call(client, "patch", f"/api/schedules/{s['id']}", project.token, {"cron": "0 4 * *"})
    assert r.status_code == 400
    assert r.json()["reason"].startswith("cron: a cron expression has exactly 5 fields")
    assert Schedule.objects.get().cron == "0 4 * * mon"  # unchanged
    r = call(client, "patch", f"/api/schedules/{s['id']}", project.token, {"enabled": True})
    assert r.json()["next_run"][11:16] == "04:00"


def test_delete_removes_it(project, client):
    s = create(client, project)
    r = call(client, "delete", f"/api/schedules/{s['id']}", project.token)
    assert r.status_code == 204
    assert not Schedule.objects.exists()
    r = call(client, "get", f"/api/schedules/{s['id']}", project.token)
    assert (r.status_code, r.json()) == (404, {"reason": "No such schedule"})


def test_changing_takes_push_rights_and_a_private_repositorys_are_not_there(project, client, make_repository):
    s = create(client, project)
    rita = ApiToken.issue(project.rita)
    for method, path in [
        ("post", "/api/repos/acme/widgets/schedules"),
        ("patch", f"/api/schedules/{s['id']}"),
        ("delete", f"/api/schedules/{s['id']}"),
    ]:
        r = call(client, method, path, rita, {"name": "x"} if method != "delete" else None)
        assert (r.status_code, r.json()) == (403, {"reason": "You need push access to acme/widgets"}), path
    r = call(client, "post", "/api/repos/acme/widgets/schedules", None, NIGHTLY)
    assert r.status_code == 401
    ApiToken.objects.filter(user=project.ada).update(read_only=True)
    r = call(client, "delete", f"/api/schedules/{s['id']}", project.token)
    assert (r.status_code, r.json()) == (403, {"reason": "this API token is read-only: it may only read (GET)"})

    secret = make_repository("acme/secret", clone_url=project.src.url, private=True)
    hidden = Schedule.objects.create(repository=secret, name="n", cron="0 3 * * *")
    r = call(client, "get", f"/api/schedules/{hidden.pk}", rita)
    assert (r.status_code, r.json()) == (404, {"reason": "No such schedule"})
    r = call(client, "get", "/api/repos/acme/secret/schedules", rita)
    assert (r.status_code, r.json()) == (404, {"reason": "No such repository"})
    assert Schedule.objects.count() == 2
