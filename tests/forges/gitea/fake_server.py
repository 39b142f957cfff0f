"""A local stand-in for Gitea (and Forgejo, which answers the same): the
OAuth2 provider's web flow and the part of the /api/v1 REST API Herald uses,
answering with Gitea's own shapes (api/*.json, see api/SOURCES.md) and
recording every request it receives.

    fake = FakeGitea().start()
    fake.add_repo("acme/widgets", permission="admin", clone_url=src.url)
    fake.configure(settings)   # HERALD_GITEA_URL, _API_URL, _CLIENT_ID, _CLIENT_SECRET

It reuses FakeGitHub's state (users, repos, tokens, recorded requests,
`fail(...)`, `revoke(...)`, `authorize_error`) and only answers the way
Gitea does: 303 redirects from the authorize endpoint, JSON token
responses (400 on errors), `Authorization: token …` or `Bearer …`,
`page`/`limit` pagination with `Link` and `X-Total-Count`, 403 (not 404)
for a collaborator without admin rights on /hooks, `{"message", "url"}`
error bodies."""

import base64
import json
import re
import secrets
from pathlib import Path
from urllib.parse import urlencode

from tests.forges.github.fake_server import FakeGitHub, _Handler

FIXTURES = Path(__file__).resolve().parent / "api"
API_PREFIX = "/api/v1"
# Gitea's defaults: [api] DEFAULT_PAGING_NUM = 30, MAX_RESPONSE_ITEMS = 50.
DEFAULT_PAGING_NUM, MAX_RESPONSE_ITEMS = 30, 50
# Gitea's webhook types (modules/structs/hook.go CreateHookOption `Type` enum).
HOOK_TYPES = {
    "dingtalk",
    "discord",
    "gitea",
    "gogs",
    "msteams",
    "slack",
    "telegram",
    "feishu",
    "wechatwork",
    "packagist",
    "forgejo",
}

PERMISSIONS = {
    "admin": {"admin": True, "push": True, "pull": True},
    "push": {"admin": False, "push": True, "pull": True},
    "pull": {"admin": False, "push": False, "pull": True},
}


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def jwt_like():
    """Gitea's OAuth2 access and refresh tokens are signed JWTs (three
    base64url parts): its API tells them from personal tokens by the dots."""
    return ".".join(secrets.token_urlsafe(n) for n in (18, 36, 32))


class FakeGitea(FakeGitHub):
    client_id = "0b8d3c2e-7f4b-4b36-9a0c-herald-test"
    client_secret = "gto_herald_test_client_secret"
    expires_in = 3600  # [oauth2] ACCESS_TOKEN_EXPIRATION_TIME default

    def __init__(self):
        super().__init__()
        self.refresh_tokens = {}  # refresh token -> (login, scope)
        self.grants = {}  # access token -> scope granted
        self.hook_secrets = {}  # hook id -> the secret Herald sent (Gitea never shows it)

    def revoke(self, token=None):
        """One access token stops working (what its hour running out does),
        or, without one, the user revokes Herald's grant in Settings >
        Applications: every access and refresh token stops working."""
        super().revoke(token)
        if token is None:
            with self.lock:
                self.refresh_tokens.clear()

    api_prefix = API_PREFIX

    def _handler(self):
        return _GiteaHandler

    @property
    def swagger_url(self):
        return self.url + "/api/swagger"

    def env(self):
        return {
            "HERALD_GITEA_URL": self.url,
            "HERALD_GITEA_API_URL": self.api_url,
            "HERALD_GITEA_CLIENT_ID": self.client_id,
            "HERALD_GITEA_CLIENT_SECRET": self.client_secret,
        }

    def issue_token(self, login="octocat", scope=""):
        self.add_user(login)
        token = jwt_like()
        self.tokens[token] = login
        self.grants[token] = scope
        return token

    def statuses(self, full_name=None):
        pattern = rf"^{API_PREFIX}/repos/{re.escape(full_name)}/statuses/" if full_name else "/statuses/"
        return [r.json for r in self.received("POST", pattern)]

    def error(self, name):
        body = fixture(name)
        if "url" in body:
            body["url"] = self.swagger_url
        return body

    def visible(self, repo, login):
        return login in repo.permissions or not repo.private

    def permission(self, repo, login):
        return repo.permissions.get(login) or ("pull" if not repo.private else None)

    def user_json(self, login):
        user = fixture("user")
        user.update(
            {
                "id": self.users[login],
                "login": login,
                "username": login,
                "full_name": login,
                "email": f"{login}@noreply.localhost",
                "avatar_url": f"{self.url}/avatars/{login}",
            }
        )
        return user

    def repo_json(self, repo, login):
        data = fixture("repository")
        owner, name = repo.full_name.split("/", 1)
        api = f"{self.api_url}/repos/{repo.full_name}"
        data["owner"].update(
            {
                "id": self.users.get(owner, 2),
                "login": owner,
                "username": owner,
                "avatar_url": f"{self.url}/avatars/{owner}",
            }
        )
        data.update(
            {
                "id": repo.id,
                "name": name,
                "full_name": repo.full_name,
                "private": repo.private,
                "languages_url": f"{api}/languages",
                "url": api,
                "html_url": f"{self.url}/{repo.full_name}",
                "clone_url": repo.clone_url,
                "ssh_url": f"ssh://git@127.0.0.1:2222/{repo.full_name}.git",
                "default_branch": repo.default_branch,
                "permissions": dict(PERMISSIONS[self.permission(repo, login)]),
            }
        )
        return data


class _GiteaHandler(_Handler):
    fake: FakeGitea

    forge_name = "Gitea"

    def _not_found(self):
        return self._send(404, b"404 page not found", {"Content-Type": "text/plain; charset=utf-8"})

    def do_PUT(self):
        self._handle("PUT")

    # --- OAuth2 provider (routers/web/auth/oauth2_provider.go) -------------

    def _redirect_303(self, location):
        self._send(303, b"", {"Location": location})

    def authorize(self, q):
        fake = self.fake
        redirect_uri = q.get("redirect_uri", "")
        state = q.get("state", "")
        if q.get("client_id") != fake.client_id:
            # handleAuthorizeError with no redirect URI: the grant_error page.
            return self._send(
                400, b"<html><body>Client ID not registered</body></html>", {"Content-Type": "text/html; charset=utf-8"}
            )
        if not redirect_uri:
            return self._send(
                400,
                b"<html><body>Unregistered Redirect URI</body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        sep = "&" if "?" in redirect_uri else "?"
        if q.get("response_type") != "code":
            params = {
                "error": "unsupported_response_type",
                "error_description": "Only code response type is supported.",
                "state": state,
            }
            return self._redirect_303(redirect_uri + sep + urlencode(params))
        if fake.authorize_error:
            # GrantApplicationOAuth when the user presses "Cancel" on the grant page.
            params = {"error": fake.authorize_error, "error_description": "the request is denied", "state": state}
            return self._redirect_303(redirect_uri + sep + urlencode(params))
        # The fake models a user who is signed in on Gitea and has granted
        # this (confidential) application before: Gitea redirects at once.
        code = secrets.token_urlsafe(24)
        fake.codes[code] = (fake.login_as, redirect_uri, q.get("scope", ""))
        return self._redirect_303(redirect_uri + sep + urlencode({"code": code, "state": state}))

    def _token_error(self, code, description):
        return self._send(400, {"error": code, "error_description": description})

    def _new_tokens(self, login, scope):
        fake = self.fake
        answer = fixture("oauth-access-token")
        token = fake.issue_token(login, scope)
        refresh = jwt_like()
        fake.refresh_tokens[refresh] = (login, scope)
        answer.update({"access_token": token, "refresh_token": refresh, "expires_in": fake.expires_in})
        return self._send(200, answer)

    def access_token(self, form):
        fake = self.fake
        auth = self.headers.get("Authorization", "")
        if (not form.get("client_id") or not form.get("client_secret")) and auth.lower().startswith("basic "):
            cid, _, csecret = base64.b64decode(auth.split(" ", 1)[1]).decode().partition(":")
            form = {
                **form,
                "client_id": form.get("client_id") or cid,
                "client_secret": form.get("client_secret") or csecret,
            }
        grant_type = form.get("grant_type")
        if grant_type not in ("authorization_code", "refresh_token"):
            return self._token_error(
                "unsupported_grant_type", "Only refresh_token or authorization_code grant type is supported"
            )
        if form.get("client_id") != fake.client_id:
            return self._token_error(
                "invalid_client", f"cannot load client with client id: '{form.get('client_id', '')}'"
            )
        if form.get("client_secret") != fake.client_secret:
            return self._token_error(
                "unauthorized_client" if grant_type == "authorization_code" else "invalid_client",
                "invalid empty client secret" if not form.get("client_secret") else "invalid client secret",
            )
        if grant_type == "refresh_token":
            grant = fake.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None:
                return self._token_error("unauthorized_client", "unable to parse refresh token")
            return self._new_tokens(*grant)
        grant = fake.codes.pop(form.get("code", ""), None)
        if grant is None:
            return self._token_error("unauthorized_client", "client is not authorized")
        if form.get("redirect_uri") != grant[1]:
            return self._token_error("invalid_grant", "redirect_uri differs from the original authorization request")
        return self._new_tokens(grant[0], grant[2])

    # --- REST API (routers/api/v1/api.go) ------------------------------------

    def _token(self):
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        # httpauth.ParseAuthorizationHeader: "token X" and "bearer X", any case.
        if scheme.lower() in ("token", "bearer") and value.strip():
            return value.strip()
        return None

    def api(self, method, path, query, body):
        fake = self.fake
        token = self._token()
        login = None
        if token is not None:
            login = fake.tokens.get(token)
            if login is None:
                # apiAuth: the OAuth2 method fails to find the grant's user.
                return self._send(401, fake.error("error-bad-token"))
        if login is None:
            # Herald always sends a token; anonymous calls are refused here
            # the way reqToken() refuses them on these routes.
            return self._send(401, fake.error("error-token-required"))
        if path == "/user" and method == "GET":
            return self._send(200, fake.user_json(login))
        if path == "/user/repos" and method == "GET":
            return self.list_repos(login, query)
        if path == "/user/orgs" and method == "GET":
            # "List the current user's organizations" (one page: tests have few).
            orgs = []
            for name in fake.orgs_of(login):
                org = fixture("organization")
                org.update(
                    {
                        "id": next(fake._ids),
                        "name": name,
                        "username": name,
                        "full_name": name,
                        "avatar_url": f"{fake.url}/avatars/{name}",
                    }
                )
                orgs.append(org)
            return self._send(200, orgs, {"X-Total-Count": len(orgs)})
        m = re.match(r"^/repos/([^/]+)/([^/]+)(/.*)?$", path)
        if not m:
            return self._send(404, fake.error("error-not-found"))
        repo = fake.repos.get(f"{m.group(1)}/{m.group(2)}".lower())
        rest = m.group(3) or ""
        if repo is None or not fake.visible(repo, login):
            return self._send(404, fake.error("error-not-found"))
        permission = fake.permission(repo, login)
        if rest == "" and method == "GET":
            return self._send(200, fake.repo_json(repo, login))
        if rest == "/hooks" or rest.startswith("/hooks/"):
            if permission != "admin":  # reqAdmin()
                return self._send(403, fake.error("error-not-admin"))
            if rest == "/hooks" and method == "GET":
                hooks = list(repo.hooks.values())
                return self._send(200, hooks, {"X-Total-Count": len(hooks)})
            if rest == "/hooks" and method == "POST":
                return self.create_hook(repo, body if isinstance(body, dict) else {})
            m2 = re.match(r"^/hooks/(\d+)$", rest)
            if m2 and method == "DELETE":
                if int(m2.group(1)) not in repo.hooks:
                    return self._send(404, fake.error("error-not-found"))
                del repo.hooks[int(m2.group(1))]
                return self._send(204)
            return self._send(404, fake.error("error-not-found"))
        m3 = re.match(r"^/statuses/([0-9a-fA-F]{4,64})$", rest)
        if m3 and method == "POST":
            if permission not in ("admin", "push"):  # reqRepoWriter(unit.TypeCode)
                return self._send(403, fake.error("error-not-writer"))
            body = body if isinstance(body, dict) else {}
            status = fixture("commit-status")
            status.update(
                {
                    "id": next(fake._ids),
                    "status": body.get("state", ""),
                    "target_url": body.get("target_url", ""),
                    "description": body.get("description", ""),
                    "context": body.get("context", ""),
                    "url": f"{fake.api_url}/repos/{repo.full_name}/statuses/{m3.group(1)}",
                    "creator": fake.user_json(login),
                }
            )
            return self._send(201, status)
        return self._send(404, fake.error("error-not-found"))

    def list_repos(self, login, query):
        fake = self.fake
        visible = sorted((r for r in fake.repos.values() if login in r.permissions), key=lambda r: r.id)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            limit = 0
        limit = DEFAULT_PAGING_NUM if limit <= 0 else min(limit, MAX_RESPONSE_ITEMS)
        try:
            page = max(int(query.get("page") or 1), 1)
        except ValueError:
            page = 1
        items = visible[(page - 1) * limit : page * limit]
        total = len(visible)
        last = max(1, -(-total // limit))
        # services/context/api.go genAPILinks: next, last, first, prev,
        # each the request URL with `page` replaced, joined by ",".
        base = f"{fake.api_url}/user/repos"
        keep = {k: v for k, v in query.items() if k != "page"}

        def link(n, rel):
            return f'<{base}?{urlencode({**keep, "page": n})}>; rel="{rel}"'

        links = []
        if page < last:
            links.append(link(page + 1, "next"))
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
            links.append(link(page - 1, "prev"))
        headers = {"X-Total-Count": total}
        if links:
            headers["Link"] = ",".join(links)
        return self._send(200, [fake.repo_json(r, login) for r in items], headers)

    def create_hook(self, repo, body):
        fake = self.fake
        # routers/api/v1/utils/hook.go checkCreateHookOption
        if body.get("type") not in HOOK_TYPES:
            return self._send(422, {"message": f"Invalid hook type: {body.get('type', '')}", "url": fake.swagger_url})
        config = body.get("config") or {}
        for name in ("url", "content_type"):
            if name not in config:
                return self._send(422, {"message": f"Missing config option: {name}", "url": fake.swagger_url})
        if config["content_type"] not in ("json", "form"):
            return self._send(422, {"message": "Invalid content type", "url": fake.swagger_url})
        hook = fixture("hook")
        hook_id = next(fake._ids)
        hook.update(
            {
                "id": hook_id,
                "type": body["type"],
                "branch_filter": body.get("branch_filter", ""),
                "events": body.get("events") or ["push"],
                "active": bool(body.get("active", False)),
                "authorization_header": body.get("authorization_header", ""),
                # ToHook: only url and content_type; the secret is never echoed.
                "config": {"url": config["url"], "content_type": config["content_type"]},
            }
        )
        repo.hooks[hook_id] = hook
        fake.hook_secrets[hook_id] = config.get("secret")
        return self._send(201, hook)
