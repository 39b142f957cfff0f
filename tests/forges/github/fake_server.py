"""A local stand-in for GitHub: the OAuth web flow and the part of the REST
API Herald uses, answering with GitHub's documented example bodies
(api/*.json, see SOURCES.md there) and recording every request it receives.

    fake = FakeGitHub().start()
    fake.add_repo("acme/widgets", permission="admin", clone_url=src.url)
    settings.HERALD_GITHUB_URL, settings.HERALD_GITHUB_API_URL = fake.url, fake.api_url

Failure modes: `fake.fail(method, path_regex, status, body=…, headers=…, times=…)`,
`fake.revoke(token)`, `fake.authorize_error = "access_denied"`."""

import copy
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from tests.forges.fake_server import Failure, FakeServer, Handler

FIXTURES = Path(__file__).resolve().parent / "api"
API_PREFIX = "/api/v3"


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


@dataclass
class FakeRepo:
    full_name: str
    id: int
    private: bool
    clone_url: str
    default_branch: str
    permissions: dict = field(default_factory=dict)  # login -> admin/push/pull
    hooks: dict = field(default_factory=dict)  # id -> hook dict


PERMISSION_FLAGS = {
    "admin": {"admin": True, "maintain": True, "push": True, "triage": True, "pull": True},
    "push": {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True},
    "pull": {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True},
}


class FakeGitHub(FakeServer):
    api_prefix = API_PREFIX
    client_id = "Iv1.herald-test-client"
    client_secret = "herald-test-client-secret"

    def __init__(self):
        self.users = {"octocat": 1}
        self.login_as = "octocat"  # who is "signed in on GitHub" in the browser
        self.repos = {}
        self.codes = {}
        self.tokens = {}
        self.requests = []
        self.failures = []
        self.authorize_error = None
        self.lock = threading.Lock()
        self._ids = iter(range(1000, 10**9))
        self.server = None

    def _handler(self):
        return _Handler

    def env(self):
        """Environment for a Herald (LiveHerald) pointed at this server."""
        return {
            "HERALD_GITHUB_URL": self.url,
            "HERALD_GITHUB_API_URL": self.api_url,
            "HERALD_GITHUB_CLIENT_ID": self.client_id,
            "HERALD_GITHUB_CLIENT_SECRET": self.client_secret,
        }

    # --- state -----------------------------------------------------------

    def add_repo(self, full_name, permission="admin", private=False, clone_url=None, login=None, default_branch="main"):
        with self.lock:
            repo = self.repos.get(full_name.lower())
            if repo is None:
                repo = FakeRepo(
                    full_name, next(self._ids), private, clone_url or f"{self.url}/{full_name}.git", default_branch
                )
                self.repos[full_name.lower()] = repo
            repo.permissions[login or self.login_as] = permission
            return repo

    def issue_token(self, login="octocat"):
        self.add_user(login)
        token = "gho_" + secrets.token_hex(18)
        self.tokens[token] = login
        return token

    def revoke(self, token=None):
        """Forget one token (or all): the API answers 401 Bad credentials."""
        with self.lock:
            if token is None:
                self.tokens.clear()
            else:
                self.tokens.pop(token, None)

    def fail(self, method, path, status, body=None, headers=None, times=None):
        """Answer requests matching (method, path regex under /api/v3) with `status`."""
        self.failures.append(Failure(method.upper(), re.compile(path), status, body, headers or {}, times))

    def clear_failures(self):
        self.failures.clear()

    def received(self, method=None, path=None):
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        ]

    def statuses(self, full_name=None):
        pattern = rf"^{API_PREFIX}/repos/{re.escape(full_name)}/statuses/" if full_name else "/statuses/"
        return [r.json for r in self.received("POST", pattern)]

    def hooks_of(self, full_name):
        return list(self.repos[full_name.lower()].hooks.values())

    def hook_secret(self, full_name):
        """The secret Herald sent when it last created the repository's hook."""
        posts = [r for r in self.received("POST", rf"/repos/{re.escape(full_name)}/hooks$") if r.json]
        return posts[-1].json["config"]["secret"]

    def delete_hooks_by_hand(self, full_name):
        self.repos[full_name.lower()].hooks.clear()

    # --- responses ---------------------------------------------------------

    def repo_json(self, repo, login):
        data = fixture("minimal-repository")
        owner, name = repo.full_name.split("/", 1)
        api = f"{self.api_url}/repos/{repo.full_name}"
        for key, value in list(data.items()):
            if isinstance(value, str) and "api.github.com/repos/octocat/Hello-World" in value:
                data[key] = value.replace("https://api.github.com/repos/octocat/Hello-World", api)
        data["owner"] = copy.deepcopy(data["owner"])
        data["owner"]["login"] = owner
        data.update(
            {
                "id": repo.id,
                "name": name,
                "full_name": repo.full_name,
                "private": repo.private,
                "visibility": "private" if repo.private else "public",
                "html_url": f"{self.url}/{repo.full_name}",
                "clone_url": repo.clone_url,
                "ssh_url": f"git@127.0.0.1:{repo.full_name}.git",
                "default_branch": repo.default_branch,
                "permissions": {
                    k: v for k, v in PERMISSION_FLAGS[repo.permissions[login]].items() if k in ("admin", "push", "pull")
                },
            }
        )
        return data


class _Handler(Handler):
    forge_name = "GitHub"

    def _route(self, method, path, query, body):
        if self._answer_failure(method, path):
            return
        prefix = self.fake.api_prefix
        try:
            if path == "/login/oauth/authorize" and method == "GET":
                return self.authorize(query)
            if path == "/login/oauth/access_token" and method == "POST":
                return self.access_token(body if isinstance(body, dict) else {})
            if path.startswith(prefix + "/"):
                return self.api(method, path[len(prefix) :], query, body)
            return self._not_found()
        except Exception as e:  # a bug in the fake must show in the test, not hang it
            return self._send(500, {"message": f"fake {self.forge_name} crashed: {type(e).__name__}: {e}"})

    def _not_found(self):
        return self._send(404, fixture("error-not-found"))

    # --- OAuth web flow (docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps)

    def authorize(self, q):
        fake = self.fake
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != fake.client_id or not redirect_uri:
            return self._send(404, b"unknown client_id", {"Content-Type": "text/plain"})
        sep = "&" if "?" in redirect_uri else "?"
        if fake.authorize_error:
            params = {
                "error": fake.authorize_error,
                "error_description": "The user has denied your application access.",
                "error_uri": "https://docs.github.com/apps/troubleshooting-authorization-request-errors",
                "state": q.get("state", ""),
            }
            return self._redirect(redirect_uri + sep + urlencode(params))
        code = secrets.token_hex(10)
        fake.codes[code] = (fake.login_as, redirect_uri, q.get("scope", ""))
        return self._redirect(redirect_uri + sep + urlencode({"code": code, "state": q.get("state", "")}))

    def access_token(self, form):
        fake = self.fake
        grant = fake.codes.pop(form.get("code", ""), None)
        if form.get("client_id") != fake.client_id or form.get("client_secret") != fake.client_secret:
            answer = {
                "error": "incorrect_client_credentials",
                "error_description": "The client_id and/or client_secret passed are incorrect.",
            }
        elif grant is None or (form.get("redirect_uri") and form["redirect_uri"] != grant[1]):
            answer = {"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."}
        else:
            token = fake.issue_token(grant[0])
            answer = {"access_token": token, "scope": grant[2].replace(" ", ","), "token_type": "bearer"}
        if "json" in self.headers.get("Accept", ""):
            return self._send(200, answer)
        return self._send(200, urlencode(answer).encode(), {"Content-Type": "application/x-www-form-urlencoded"})

    # --- REST API ----------------------------------------------------------

    def api(self, method, path, query, body):
        fake = self.fake
        auth = self.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1].strip() if " " in auth else ""
        login = fake.tokens.get(token)
        if login is None:
            return self._send(401, fixture("error-bad-credentials"))
        if path == "/user" and method == "GET":
            user = fixture("private-user")
            user.update(
                {
                    "login": login,
                    "id": fake.users[login],
                    "html_url": f"{fake.url}/{login}",
                    "name": login,
                    "email": None,
                }
            )
            return self._send(200, user)
        if path == "/user/repos" and method == "GET":
            return self.list_repos(login, query)
        if path == "/user/orgs" and method == "GET":
            # "List organizations for the authenticated user" (one page: tests have few).
            template = fixture("organization-simple-items")[0]
            orgs = []
            for name in fake.orgs_of(login):
                org = {
                    k: v.replace("/orgs/github", f"/orgs/{name}") if isinstance(v, str) else v
                    for k, v in template.items()
                }
                org.update({"login": name, "id": next(fake._ids), "url": f"{fake.api_url}/orgs/{name}"})
                orgs.append(org)
            return self._send(200, orgs)
        m = re.match(r"^/repos/([^/]+/[^/]+)(/.*)?$", path)
        if not m:
            return self._send(404, fixture("error-not-found"))
        repo = fake.repos.get(m.group(1).lower())
        rest = m.group(2) or ""
        if repo is None or login not in repo.permissions:
            return self._send(404, fixture("error-not-found"))
        permission = repo.permissions[login]
        if rest == "" and method == "GET":
            return self._send(200, fake.repo_json(repo, login))
        if rest == "/hooks":
            if permission != "admin":  # GitHub hides hooks from non-admins
                return self._send(404, fixture("error-not-found"))
            if method == "GET":
                return self._send(200, list(repo.hooks.values()))
            if method == "POST":
                return self.create_hook(repo, body if isinstance(body, dict) else {})
        m2 = re.match(r"^/hooks/(\d+)$", rest)
        if m2 and method == "DELETE":
            if permission != "admin" or int(m2.group(1)) not in repo.hooks:
                return self._send(404, fixture("error-not-found"))
            del repo.hooks[int(m2.group(1))]
            return self._send(204)
        m3 = re.match(r"^/statuses/([0-9a-f]{40})$", rest)
        if m3 and method == "POST":
            if permission == "pull":
                return self._send(404, fixture("error-not-found"))
            status = fixture("status")
            status.update({k: body.get(k) for k in ("state", "description", "target_url", "context")})
            status["url"] = f"{fake.api_url}/repos/{repo.full_name}/statuses/{m3.group(1)}"
            status["id"] = next(fake._ids)
            return self._send(201, status)
        return self._send(404, fixture("error-not-found"))

    def list_repos(self, login, query):
        fake = self.fake
        visible = sorted((r for r in fake.repos.values() if login in r.permissions), key=lambda r: r.full_name.lower())
        per_page = min(int(query.get("per_page", 30)), 100)
        page = max(int(query.get("page", 1)), 1)
        items = visible[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(visible) // per_page))
        base = f"{fake.api_url}/user/repos"
        keep = {k: v for k, v in query.items() if k != "page"}
        links = []
        if page < last:
            links.append(f'<{base}?{urlencode({**keep, "page": page + 1})}>; rel="next"')
            links.append(f'<{base}?{urlencode({**keep, "page": last})}>; rel="last"')
        headers = {"Link": ", ".join(links)} if links else {}
        return self._send(200, [fake.repo_json(r, login) for r in items], headers)

    def create_hook(self, repo, body):
        fake = self.fake
        config = body.get("config") or {}
        if not config.get("url"):
            return self._send(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {"resource": "Hook", "code": "custom", "message": "Config must contain URL for webhooks"}
                    ],
                    "documentation_url": "https://docs.github.com/rest/repos/webhooks#create-a-repository-webhook",
                    "status": "422",
                },
            )
        if any(h["config"]["url"] == config["url"] for h in repo.hooks.values()):
            return self._send(422, fixture("error-hook-exists"))
        hook = fixture("hook")
        hook_id = next(fake._ids)
        api = f"{fake.api_url}/repos/{repo.full_name}/hooks/{hook_id}"
        hook.update(
            {
                "id": hook_id,
                "events": body.get("events") or ["push"],
                "active": body.get("active", True),
                "url": api,
                "test_url": api + "/test",
                "ping_url": api + "/pings",
                "deliveries_url": api + "/deliveries",
            }
        )
        # GitHub never echoes the secret back.
        hook["config"] = {
            "content_type": config.get("content_type", "form"),
            "insecure_ssl": config.get("insecure_ssl", "0"),
            "url": config["url"],
            **({"secret": "********"} if config.get("secret") else {}),
        }
        repo.hooks[hook_id] = hook
        return self._send(201, hook)
