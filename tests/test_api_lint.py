"""POST /api/lint: a `.herald.yml` checked as a build would check it."""

import json

import pytest
from django.contrib.auth.models import User

from repositories.models import ApiToken, Membership, Repository, Secret

pytestmark = pytest.mark.django_db

VALID = """\
image: python:3.12-slim
matrix:
  PYTHON: ["3.11", "3.12"]
  DB: [postgres, sqlite]
steps:
  - name: test
    image: python:${PYTHON}-slim
    commands: [pip install -r requirements.txt, pytest -q]
    secrets: [CODECOV_TOKEN]
  - name: image
    build: {dockerfile: Dockerfile, context: .}
    when: {branch: [main], event: [push, tag]}
timeout: 20m
"""
BAD = "image: alpine:3\nsteps:\n  - name: a\n    commands:\n      - echo note: hi\n"


@pytest.fixture
def token():
    return ApiToken.issue(User.objects.create_user("ada"))


def post(client, body, content_type="text/yaml", token=None, **extra):
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post("/api/lint", body, content_type=content_type, **extra)


def test_a_valid_file_is_answered_with_what_it_makes(client, token):
    r = post(client, VALID, token=token)
    assert r.status_code == 200
    data = r.json()
    assert data["valid"] is True and data["secrets_checked"] is False
    pipeline = data["pipeline"]
    assert [s["name"] for s in pipeline["steps"]] == ["test", "image"]
    assert pipeline["jobs"] == 4 and {"PYTHON": "3.12", "DB": "sqlite"} in pipeline["combinations"]
    assert pipeline["steps"][1]["build"] == {"dockerfile": "Dockerfile", "context": "."}
    assert pipeline["steps"][1]["when"] == {"branch": ["main"], "event": ["push", "tag"]}
    assert pipeline["timeout"] == 1200 and pipeline["secrets"] == ["CODECOV_TOKEN"]


def test_an_invalid_file_gets_422_with_the_builds_message_and_line(client, token):
    r = post(client, BAD, token=token)
    assert r.status_code == 422
    assert r.json() == {
        "valid": False,
        "errors": [
            {
                "line": 5,
                "message": ".herald.yml, line 5, steps[0].commands[0]: this command reads as a mapping because "
                "of ': ' — quote it: - \"echo note: hi\"",
            }
        ],
    }
    # A problem with no line (a file of comments only) says so with null.
    assert post(client, "# nothing yet\n", token=token).json()["errors"] == [
        {"line": None, "message": ".herald.yml: the file is empty"}
    ]


def test_json_carries_the_file_and_optionally_the_repositorys_secret_names(client, token):
    r = post(client, json.dumps({"content": VALID}), "application/json", token)
    assert r.status_code == 200 and r.json()["secrets_checked"] is False
    r = post(client, json.dumps({"content": VALID, "secrets": ["CODECOV_TOKEN"]}), "application/json", token)
    assert r.status_code == 200 and r.json()["secrets_checked"] is True
    r = post(client, json.dumps({"content": VALID, "secrets": []}), "application/json", token)
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "line": 9,
        "message": ".herald.yml, line 9, steps[0].secrets: unknown secret 'CODECOV_TOKEN'; "
        "add it in the repository's settings",
    }


@pytest.mark.parametrize(
    "body,reason",
    [
        ("[1, 2]", 'the body must be a JSON object with "content": the file\'s text'),
        ('{"content": 3}', 'the body must be a JSON object with "content": the file\'s text'),
        ("{nope", "the body must be a JSON object"),
        ('{"content": "a: b", "repo": "x"}', "unknown field 'repo' (allowed: content, secrets)"),
        ('{"content": "a: b", "secrets": "A,B"}', "secrets must be a list of the repository's secret names"),
        ('{"content": "\\ud800"}', "content must be text (it holds a lone surrogate)"),
    ],
)
def test_a_bad_json_body_is_a_400_with_the_reason(client, token, body, reason):
    r = post(client, body, "application/json", token)
    assert (r.status_code, r.json()) == (400, {"reason": reason})


def test_what_is_not_text_is_refused(client, token):
    r = post(client, b"\x89PNG\r\n\x1a\n\x00\x00", "image/png", token)
    assert r.status_code == 415 and "text/yaml" in r.json()["reason"]
    r = post(client, b"image: \xff\xfe\n", "text/yaml", token)
    assert (r.status_code, r.json()) == (400, {"reason": "the body is not UTF-8 text"})


def test_a_file_past_the_builds_limit_is_413_with_the_builds_message(client, token):
    big = "# " + "x" * 600 * 1024 + "\n"
    r = post(client, big, token=token)
    assert (r.status_code, r.json()) == (413, {"reason": ".herald.yml: the file is 600 KiB; the limit is 512 KiB"})
    # In JSON, the file inside is held to the same limit.
    r = post(client, json.dumps({"content": big}), "application/json", token)
    assert (r.status_code, r.json()) == (413, {"reason": ".herald.yml: the file is 600 KiB; the limit is 512 KiB"})
    # Just under it is read.
    r = post(client, "image: x\ncommands: [true]\n#" + "x" * (512 * 1024 - 40) + "\n", token=token)
    assert r.status_code == 200


def test_it_needs_someone_signed_in_and_a_read_only_token_will_do(client):
    assert post(client, VALID).status_code == 401
    reader = User.objects.create_user("reader")
    row = ApiToken(user=reader, read_only=True)
    read_only = row.set_new_token()
    row.save()
    r = post(client, VALID, token=read_only)
    assert r.status_code == 200 and r.json()["valid"] is True
    client.force_login(reader)
    assert post(client, BAD).status_code == 422
    assert client.get("/api/lint").status_code == 405


def test_a_repository_named_in_the_query_lends_its_secret_names(client, token):
    repo = Repository.objects.create(full_name="acme/widgets", clone_url="https://example.com/a.git", private=True)
    Secret.objects.create(repository=repo, name="CODECOV_TOKEN", value="s3cret-value")
    writer = User.objects.create_user("writer")
    Membership.objects.create(user=writer, repository=repo, permission="push")
    client.force_login(writer)
    r = client.post("/api/lint?repository=acme/widgets", VALID, content_type="text/yaml")
    assert r.status_code == 200 and r.json()["secrets_checked"] is True
    assert "s3cret-value" not in r.content.decode()
    r = client.post("/api/lint?repository=acme/widgets", VALID.replace("CODECOV_TOKEN", "NPM_TOKEN"), "text/yaml")
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].endswith("unknown secret 'NPM_TOKEN'; add it in the repository's settings")
    r = client.post(
        "/api/lint?repository=acme/widgets", json.dumps({"content": VALID, "secrets": []}), "application/json"
    )
    assert (r.status_code, r.json()) == (400, {"reason": "give secrets or ?repository=, not both"})

    # Its secret names are for those who may push: a reader is refused, and
    # someone who cannot see the repository learns nothing of it.
    reader = User.objects.create_user("reader")
    Membership.objects.create(user=reader, repository=repo, permission="pull")
    client.force_login(reader)
    assert client.post("/api/lint?repository=acme/widgets", VALID, "text/yaml").status_code == 403
    client.force_login(User.objects.get(username="ada"))
    r = client.post("/api/lint?repository=acme/widgets", VALID, "text/yaml")
    assert (r.status_code, r.json()) == (404, {"reason": "No such repository"})
