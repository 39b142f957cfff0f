"""A local stand-in for GitLab (gitlab.com or self-managed): the OAuth 2 web
flow and the part of REST API v4 Herald uses, answering with GitLab's
documented example bodies (api/*.json, see api/SOURCES.md) and
recording every request it receives.

    fake = FakeGitLab().start()
    fake.add_project("acme/widgets", access_level=40)          # Maintainer
    fake.configure(settings)   # HERALD_GITLAB_URL / _API_URL / client id+secret

Projects are addressed as GitLab does: numeric id or URL-encoded path
(`acme%2Fwidgets`); an unencoded path matches no route (404).

Failure modes: `fake.fail(method, path_regex, status, body=…, headers=…, times=…)`,
`fake.revoke(token)` (401 invalid_token "revoked"), `fake.expire(token)`
(401 "expired"), `fake.authorize_error = "access_denied"`, `fake.app_scopes`
(scopes the OAuth application on GitLab was registered with)."""

import copy
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

from tests.forges.fake_server import Failure, FakeServer, Handler, Recorded

FIXTURES = Path(__file__).resolve().parent / "api"
API_PREFIX = "/api/v4"

GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
# The state a generic commit status is in after each API `state`, and the
# states it may be in before (GitLab's CommitStatus state machine, reached
# through Ci::CreateCommitStatusService#apply_job_state!).
TRANSITIONS = {
    "pending": ("enqueue", {"created"}),
    "running": ("run", {"created", "pending"}),
    "success": ("success", {"created", "pending", "running"}),
    "failed": ("drop", {"created", "pending", "running"}),
    "canceled": ("cancel", {"created", "pending", "running"}),
}


def fixture(name):
    return json.loads((FIXTURES / f"{name}.json").read_text())


@dataclass
class FakeProject:
    path_with_namespace: str
    id: int
    visibility: str
    http_url_to_repo: str
    default_branch: str
    members: dict = field(default_factory=dict)  # username -> (access_level, "project" | "group")
    hooks: dict = field(default_factory=dict)  # id -> hook dict (as GitLab shows it)
    hook_tokens: dict = field(default_factory=dict)  # id -> the secret token Herald sent
    statuses: dict = field(default_factory=dict)  # (sha, name, ref) -> state of the running_or_pending one


@dataclass
class Token:
    username: str
    scopes: set
    refresh_token: str
    revoked: bool = False
    expired: bool = False


class FakeGitLab(FakeServer):
    client_id = "herald-test-application-id"
    client_secret = "gloas-herald-test-client-secret"

    def __init__(self):
        self.users = {"john_smith": 1}
        self.login_as = "john_smith"  # who is signed in on GitLab in the browser
        self.projects = {}  # lower-case path -> FakeProject
        self.codes = {}
        self.tokens = {}  # access token -> Token
        self.requests = []
        self.failures = []
        self.authorize_error = None
        self.app_scopes = {"api", "read_user", "read_api", "read_repository"}
        # GitLab refuses webhook URLs on the local network unless an admin
        # allows them (Admin > Settings > Network > Outbound requests).
        self.allow_local_network = True
        self.lock = threading.Lock()
        self._ids = iter(range(1000, 10**9))
        self.server = None

    api_prefix = API_PREFIX

    def _handler(self):
        return _GitLabHandler

    def env(self):
        return {
            "HERALD_GITLAB_URL": self.url,
            "HERALD_GITLAB_API_URL": self.api_url,
            "HERALD_GITLAB_CLIENT_ID": self.client_id,
            "HERALD_GITLAB_CLIENT_SECRET": self.client_secret,
        }

    # --- state -----------------------------------------------------------

    def add_project(
        self,
        path,
        access_level=MAINTAINER,
        via="project",
        visibility="private",
        username=None,
        http_url_to_repo=None,
        default_branch="main",
    ):
        """A project `username` (default: the browser's user) is a member of,
        directly (`via="project"`) or through its group (`via="group"`);
        access_level None: not a member (only visible when public/internal)."""
        with self.lock:
            project = self.projects.get(path.lower())
            if project is None:
                project = FakeProject(
                    path, next(self._ids), visibility, http_url_to_repo or f"{self.url}/{path}.git", default_branch
                )
                self.projects[path.lower()] = project
            if access_level is not None:
                project.members[username or self.login_as] = (access_level, via)
            return project

    def issue_token(self, username="john_smith", scopes=("api",)):
        self.add_user(username)
        token = secrets.token_hex(32)
        self.tokens[token] = Token(username, set(scopes), secrets.token_hex(32))
        return token

    def revoke(self, token=None):
        """The user revoked Herald's access in GitLab (Preferences → Applications)."""
        for t, record in list(self.tokens.items()):
            if token is None or t == token:
                record.revoked = True

    def expire(self, token=None):
        """The token outlived its `expires_in` (two hours on GitLab)."""
        for t, record in list(self.tokens.items()):
            if token is None or t == token:
                record.expired = True

    def fail(self, method, path, status, body=None, headers=None, times=None):
        """Answer requests matching (method, path regex, on the raw path) with `status`."""
        self.failures.append(Failure(method.upper(), re.compile(path), status, body, headers or {}, times))

    def clear_failures(self):
        self.failures.clear()

    def received(self, method=None, path=None):
        return [
            r
            for r in list(self.requests)
            if (method is None or r.method == method) and (path is None or re.search(path, r.path))
        ]

    @staticmethod
    def encoded(path):
        return quote(path, safe="")

    def statuses(self, path=None):
        """Bodies of the commit-status posts GitLab accepted (201)."""
        pattern = (
            (
                rf"^{API_PREFIX}/projects/({re.escape(self.encoded(path))}|{self.projects[path.lower()].id})"
                r"/statuses/"
            )
            if path
            else "/statuses/"
        )
        return [r.json for r in self.received("POST", pattern) if r.answered == 201]

    def hooks_of(self, path):
        return list(self.projects[path.lower()].hooks.values())

    def hook_token(self, path):
        """The secret token Herald gave GitLab for the project's (only) hook."""
        tokens = list(self.projects[path.lower()].hook_tokens.values())
        return tokens[-1] if tokens else None

    def delete_hooks_by_hand(self, path):
        self.projects[path.lower()].hooks.clear()

    # --- responses ---------------------------------------------------------

    def project_json(self, project, username, template="project"):
        data = fixture(template)
        namespace, _, name = project.path_with_namespace.rpartition("/")
        web = f"{self.url}/{project.path_with_namespace}"
        data.update(
            {
                "id": project.id,
                "name": name,
                "path": name,
                "name_with_namespace": f"{namespace} / {name}",
                "path_with_namespace": project.path_with_namespace,
                "visibility": project.visibility,
                "default_branch": project.default_branch,
                "http_url_to_repo": project.http_url_to_repo,
                "ssh_url_to_repo": f"git@127.0.0.1:{project.path_with_namespace}.git",
                "web_url": web,
                "readme_url": f"{web}/-/blob/{project.default_branch}/README.md",
            }
        )
        data["namespace"] = {
            **data["namespace"],
            "name": namespace,
            "path": namespace.rpartition("/")[2],
            "full_path": namespace,
            "web_url": f"{self.url}/groups/{namespace}",
        }
        level, via = project.members.get(username, (None, None))
        access = {"access_level": level, "notification_level": 3} if level is not None else None
        data["permissions"] = {
            "project_access": access if via == "project" else None,
            "group_access": access if via == "group" else None,
        }
        return data


class _GitLabHandler(Handler):
    fake: FakeGitLab

    _record = None

    def _send(self, status, body=None, headers=None):
        if self._record is not None:
            self._record.answered = status  # before the client can read the answer
        super()._send(status, body, headers)

    def _handle(self, method):
        fake = self.fake
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self._read_body()
        if not isinstance(body, dict) and method == "POST" and parts.path.startswith(API_PREFIX) and query:
            body = dict(query)  # GitLab takes parameters from the query string too
        record = Recorded(method, parts.path, query, dict(self.headers.items()), body)
        record.answered = None  # the status the fake answered with
        self._record = record
        fake.requests.append(record)
        self._route(method, parts.path, query, body)

    def _route(self, method, path, query, body):
        if self._answer_failure(method, path):
            return
        try:
            if path == "/oauth/authorize" and method == "GET":
                return self.authorize(query)
            if path == "/oauth/token" and method == "POST":
                return self.token(body if isinstance(body, dict) else {})
            if path.startswith(API_PREFIX + "/"):
                return self.api(method, path[len(API_PREFIX) :], query, body if isinstance(body, dict) else {})
            return self._send(404, fixture("error-not-found"))
        except Exception as e:  # a bug in the fake must show in the test, not hang it
            return self._send(500, {"message": f"fake GitLab crashed: {type(e).__name__}: {e}"})

    def do_PUT(self):
        self._handle("PUT")

    # --- OAuth 2 web flow (doc/api/oauth2.md, "Authorization code flow") --------

    def authorize(self, q):
        fake = self.fake
        redirect_uri = q.get("redirect_uri", "")
        if q.get("client_id") != fake.client_id or not redirect_uri:
            # Doorkeeper shows an error page; it never redirects to an unverified URI.
            body = fixture("error-invalid-client")["error_description"].encode()
            return self._send(
                401,
                b"<html><body><h1>An error has occurred</h1><p>" + body + b"</p></body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        sep = "&" if "?" in redirect_uri else "?"
        state = q.get("state", "")
        requested = set((q.get("scope") or "").split())
        error = fake.authorize_error
        if not error and q.get("response_type") != "code":
            error = "unsupported_response_type"
        if not error and not requested <= fake.app_scopes:
            error = "invalid_scope"
        if error:
            descriptions = {
                "access_denied": "The resource owner or authorization server denied the request.",
                "invalid_scope": "The requested scope is invalid, unknown, or malformed.",
                "unsupported_response_type": "The authorization server does not support this response type.",
            }
            params = {"error": error, "error_description": descriptions.get(error, error), "state": state}
            return self._redirect(redirect_uri + sep + urlencode(params))
        code = secrets.token_hex(32)
        fake.codes[code] = {
            "username": fake.login_as,
            "redirect_uri": redirect_uri,
            "scopes": requested or {"api"},
            "challenge": q.get("code_challenge"),
        }
        return self._redirect(redirect_uri + sep + urlencode({"code": code, "state": state}))

    def token(self, form):
        fake = self.fake
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            import base64

            client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
        if client_id != fake.client_id or client_secret != fake.client_secret:
            return self._send(401, fixture("error-invalid-client"))
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            grant = fake.codes.pop(form.get("code", ""), None)
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                return self._send(400, fixture("error-invalid-grant"))
            if grant["challenge"]:
                import base64
                import hashlib

                verifier = form.get("code_verifier", "")
                digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if digest != grant["challenge"]:
                    return self._send(400, fixture("error-invalid-grant"))
            token = fake.issue_token(grant["username"], grant["scopes"])
        elif grant_type == "refresh_token":
            old = next((t for t, r in fake.tokens.items() if r.refresh_token == form.get("refresh_token")), None)
            if old is None or fake.tokens[old].revoked:
                return self._send(400, fixture("error-invalid-grant"))
            record = fake.tokens.pop(old)  # the old access and refresh tokens stop working
            token = fake.issue_token(record.username, record.scopes)
        else:
            return self._send(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "The authorization grant type is not supported by the authorization server.",
                },
            )
        answer = fixture("oauth-token")
        answer.update(
            {
                "access_token": token,
                "refresh_token": fake.tokens[token].refresh_token,
                "scope": " ".join(sorted(fake.tokens[token].scopes)),
                "created_at": int(time.time()),
            }
        )
        return self._send(200, answer)

    # --- REST API v4 -------------------------------------------------------

    def _token(self, query):
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            return auth.split(" ", 1)[1].strip()
        return self.headers.get("PRIVATE-TOKEN") or query.get("access_token") or query.get("private_token") or ""

    def api(self, method, path, query, body):
        fake = self.fake
        token = self._token(query)
        record = fake.tokens.get(token)
        if record is None:
            return self._send(401, fixture("error-unauthorized"))
        if record.revoked or record.expired:
            error = fixture("error-token-revoked" if record.revoked else "error-token-expired")
            challenge = (
                f'Bearer realm="Protected by OAuth 2.0", error="invalid_token", '
                f'error_description="{error["error_description"]}"'
            )
            return self._send(401, error, {"WWW-Authenticate": challenge})
        username = record.username
        if method != "GET" and not record.scopes & {"api"}:
            return self._send(403, fixture("error-insufficient-scope"))
        if path == "/user" and method == "GET":
            user = fixture("user")
            user.update(
                {
                    "id": fake.users[username],
                    "username": username,
                    "name": username.replace("_", " ").title(),
                    "email": f"{username}@example.com",
                    "public_email": "",
                    "web_url": f"{fake.url}/{username}",
                    "identities": [],
                }
            )
            return self._send(200, user)
        if path == "/projects" and method == "GET":
            return self.list_projects(username, query)
        if path == "/groups" and method == "GET":
            # "List groups": with min_access_level, only groups the user is a
            # member of (one page: tests have few).
            groups = []
            for full_path in fake.orgs_of(username) if query.get("min_access_level") else []:
                group = fixture("group-list-item")
                name = full_path.rsplit("/", 1)[-1]
                group.update(
                    {
                        "id": next(fake._ids),
                        "name": name,
                        "path": name,
                        "full_name": full_path,
                        "full_path": full_path,
                        "web_url": f"{fake.url}/groups/{full_path}",
                    }
                )
                groups.append(group)
            return self._send(200, groups, {"X-Total": len(groups), "X-Total-Pages": 1, "X-Page": 1})
        m = re.match(r"^/projects/([^/]+)(/.*)?$", path)
        if not m:
            return self._send(404, {"error": "404 Not Found"})
        project = self._project(unquote(m.group(1)))
        rest = m.group(2) or ""
        level = project.members.get(username, (0, None))[0] if project else 0
        if project is None or (not level and project.visibility == "private"):
            return self._send(404, fixture("error-project-not-found"))
        if rest == "" and method == "GET":
            return self._send(200, fake.project_json(project, username))
        if rest == "/hooks" or rest.startswith("/hooks/"):
            if level < MAINTAINER:  # project_hooks.rb: before { authorize_admin_project }
                return self._send(403, fixture("error-forbidden"))
            if rest == "/hooks" and method == "GET":
                return self._send(200, list(project.hooks.values()))
            if rest == "/hooks" and method == "POST":
                return self.create_hook(project, body)
            m2 = re.match(r"^/hooks/(\d+)$", rest)
            if m2 and method == "DELETE":
                if int(m2.group(1)) not in project.hooks:
                    return self._send(404, fixture("error-not-found"))
                del project.hooks[int(m2.group(1))]
                project.hook_tokens.pop(int(m2.group(1)), None)
                return self._send(204)
        m3 = re.match(r"^/statuses/([0-9a-f]{40})$", rest)
        if m3 and method == "POST":
            if level < DEVELOPER:  # authorize! :create_commit_status
                return self._send(403, fixture("error-forbidden"))
            return self.create_status(project, m3.group(1), body, username)
        return self._send(404, {"error": "404 Not Found"})

    def _project(self, ident):
        fake = self.fake
        if ident.isdigit():
            return next((p for p in fake.projects.values() if p.id == int(ident)), None)
        return fake.projects.get(ident.lower())

    def list_projects(self, username, query):
        fake = self.fake
        if query.get("membership") in ("true", "1"):
            visible = [p for p in fake.projects.values() if username in p.members]
        else:
            visible = [p for p in fake.projects.values() if username in p.members or p.visibility != "private"]
        if query.get("min_access_level", "").isdigit():
            visible = [p for p in visible if p.members.get(username, (0,))[0] >= int(query["min_access_level"])]
        order = query.get("order_by", "created_at")
        key = (lambda p: p.path_with_namespace.lower()) if order in ("path", "name") else (lambda p: p.id)
        visible.sort(key=key, reverse=query.get("sort", "desc") == "desc")
        per_page = max(1, min(int(query.get("per_page", 20)), 100))
        page = max(int(query.get("page", 1)), 1)
        total_pages = max(1, -(-len(visible) // per_page))
        items = visible[(page - 1) * per_page : page * per_page]
        base = f"{fake.api_url}/projects"
        keep = {k: v for k, v in query.items() if k not in ("page", "access_token", "private_token")}

        def link(n, rel):
            return f'<{base}?{urlencode({**keep, "page": n, "per_page": per_page})}>; rel="{rel}"'

        links = ([link(page - 1, "prev")] if page > 1 else []) + (
            [link(page + 1, "next")] if page < total_pages else []
        )
        links += [link(1, "first"), link(total_pages, "last")]
        headers = {
            "Link": ", ".join(links),
            "X-Page": page,
            "X-Per-Page": per_page,
            "X-Total": len(visible),
            "X-Total-Pages": total_pages,
            "X-Next-Page": page + 1 if page < total_pages else "",
            "X-Prev-Page": page - 1 if page > 1 else "",
        }
        return self._send(200, [fake.project_json(p, username, "project-list-item") for p in items], headers)

    def create_hook(self, project, body):
        fake = self.fake
        url = body.get("url") or ""
        if not url:
            return self._send(400, {"error": "url is missing"})
        host = urlsplit(url).hostname or ""
        local = host in ("localhost", "127.0.0.1", "::1") or host.startswith(("10.", "192.168.", "127."))
        if not re.match(r"^https?://[^/\s]+", url) or (local and not fake.allow_local_network):
            return self._send(422, fixture("error-hook-invalid-url"))
        hook = fixture("hook")
        hook_id = next(fake._ids)
        events = [k for k in hook if k.endswith("_events")]
        hook.update({k: bool(body.get(k, k == "push_events")) for k in events})  # GitLab: push on by default
        hook.update(
            {
                "id": hook_id,
                "url": url,
                "project_id": project.id,
                "name": body.get("name") or "",
                "description": body.get("description") or "",
                "push_events_branch_filter": "",
                "enable_ssl_verification": bool(body.get("enable_ssl_verification", True)),
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "custom_webhook_template": "",
                "custom_headers": [],
            }
        )
        # The token is never returned ("the token isn't returned in the response").
        project.hooks[hook_id] = hook
        project.hook_tokens[hook_id] = body.get("token")
        return self._send(201, copy.deepcopy(hook))

    def create_status(self, project, sha, body, username):
        state = body.get("state")
        if not state:
            return self._send(400, {"message": "State is required"})
        if state not in TRANSITIONS:
            return self._send(400, {"message": "invalid state"})
        name = body.get("name") or body.get("context") or "default"
        ref = body.get("ref") or project.default_branch
        key = (sha, name, ref)
        current = project.statuses.get(key, "created")
        event, allowed_from = TRANSITIONS[state]
        if current not in allowed_from:
            return self._send(
                400,
                {
                    "message": f"Cannot transition status via :{event} from :{current} "
                    f'(Reason(s): Status cannot transition via "{event}")'
                },
            )
        if state in ("pending", "running"):
            project.statuses[key] = state
        else:
            project.statuses.pop(key, None)  # finished: the next post starts a new status
        status = fixture("commit-status")
        status.update(
            {
                "id": next(self.fake._ids),
                "sha": sha,
                "ref": ref,
                "status": state,
                "name": name,
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "coverage": None,
                "author": {
                    **status["author"],
                    "username": username,
                    "id": self.fake.users[username],
                    "web_url": f"{self.fake.url}/{username}",
                },
            }
        )
        return self._send(201, status)
