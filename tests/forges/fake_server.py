"""What every fake forge shares (tests/forges/<id>/fake_server.py): a
threaded HTTP server on loopback that records every request it receives and
answers with failures a test sets up (`fake.fail(method, path_regex, status,
body=…, headers=…, times=…)`) before the forge's own routes."""

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict
    headers: dict
    body: object

    @property
    def json(self):
        return self.body if isinstance(self.body, (dict, list)) else None


@dataclass
class Failure:
    method: str
    pattern: re.Pattern
    status: int
    body: object
    headers: dict
    times: int | None


@dataclass
class Hold:
    method: str
    pattern: re.Pattern
    reached: threading.Event
    release: threading.Event


class FakeServer:
    """What every fake forge shares: a threaded HTTP server on loopback, its
    URLs, and pointing Herald's settings at it. Subclasses give `_handler()`,
    `api_prefix` and `env()`."""

    api_prefix = ""

    def _handler(self):
        raise NotImplementedError

    def start(self):
        class Bound(self._handler()):
            pass

        Bound.fake = self
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Bound)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name=f"fake-{type(self).__name__}", daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def api_url(self):
        return self.url + self.api_prefix

    def configure(self, settings):
        """Point a pytest-django `settings` fixture at this server."""
        for name, value in self.env().items():
            setattr(settings, name, value)
        return settings

    def hold(self, method, path):
        """Hold the answer to the next request matching `path` (a regex):
        returns a Hold whose `reached` is set once the request was handled and
        whose `release` the test sets to let the answer go."""
        hold = Hold(method.upper(), re.compile(path), threading.Event(), threading.Event())
        self.__dict__.setdefault("holds", []).append(hold)
        return hold

    def add_user(self, login):
        self.users.setdefault(login, next(self._ids))
        return self.users[login]

    def add_member(self, org, login=None):
        """Make `login` a member of organisation `org` (GitLab: group full path)."""
        self.__dict__.setdefault("memberships", {}).setdefault(login or self.login_as, []).append(org)

    def orgs_of(self, login):
        return list(self.__dict__.get("memberships", {}).get(login, []))


class Handler(BaseHTTPRequestHandler):
    """The plumbing every fake's handler shares: reading bodies, answering,
    recording requests, the failures a test set up. Subclasses route."""

    fake: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    # --- plumbing ----------------------------------------------------------

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = self.headers.get("Content-Type", "")
        if "json" in ctype and raw:
            try:
                return json.loads(raw)
            except ValueError:
                return raw.decode(errors="replace")
        if "x-www-form-urlencoded" in ctype:
            return {k: v[-1] for k, v in parse_qs(raw.decode()).items()}
        return raw.decode(errors="replace")

    def _send(self, status, body=None, headers=None):
        self._wait_if_held()
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _wait_if_held(self):
        """A request the test holds (`fake.hold`) is handled (stored) but not
        answered until the test lets it go: the forge has the state, Herald
        doesn't know yet."""
        for hold in list(getattr(self.fake, "holds", [])):
            if hold.method == self.command and hold.pattern.search(urlsplit(self.path).path):
                self.fake.holds.remove(hold)
                hold.reached.set()
                hold.release.wait(30)
                return

    def _redirect(self, location):
        self._send(302, b"", {"Location": location})

    def _handle(self, method):
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        body = self._read_body()
        self.fake.requests.append(Recorded(method, parts.path, query, dict(self.headers.items()), body))
        self._route(method, parts.path, query, body)

    def _answer_failure(self, method, path):
        """Answer with a failure the test set up (`fake.fail`) if one matches."""
        fake = self.fake
        for failure in list(fake.failures):
            if failure.method == method and failure.pattern.search(path):
                if failure.times is not None:
                    failure.times -= 1
                    if failure.times <= 0:
                        fake.failures.remove(failure)
                self._send(failure.status, failure.body, failure.headers)
                return True
        return False

    def _route(self, method, path, query, body):
        raise NotImplementedError

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")
