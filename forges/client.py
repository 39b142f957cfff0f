"""What every forge client shares: one requests session, error mapping to
Herald's own exceptions, Link-header pagination. All HTTP to a forge's API
goes through its forges/<id>/client.py, a subclass of Client.

Views and tasks only ever see these exceptions, never `requests`."""

import base64
import email.utils
import time
from dataclasses import dataclass

import requests
from django.conf import settings

import forges

USER_AGENT = "Herald-CI"


class ForgeError(Exception):
    """The forge answered something other than success (or did not answer)."""

    def __init__(self, message, status=None, retry_after=None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


class BadCredentials(ForgeError):
    """401: the token was revoked or expired; the user must sign in again."""


class RateLimited(ForgeError):
    """403/429 with rate-limit headers: try again after `retry_after` seconds."""


class NotFound(ForgeError):
    """404 (forges also answer 404 when the token may not see the resource)."""


class Refused(ForgeError):
    """The forge understood and said no (400, 403, 409, 422)."""


class Unavailable(ForgeError):
    """5xx, a timeout or no connection: worth retrying later."""


class NotAdmin(ForgeError):
    """The user lacks the rights the action needs (checked before asking)."""


TRANSIENT = (RateLimited, Unavailable)


@dataclass
class ForgeRepo:
    full_name: str
    forge_id: str
    private: bool
    html_url: str
    clone_url: str
    default_branch: str
    permission: str | None  # "admin", "push", "pull" or None


class Client:
    provider = None
    name = "the forge"

    def __init__(self, token, api_url=None):
        self.token = token
        self.api_url = (api_url or self.default_api_url()).rstrip("/")
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, **self.auth_headers()})
        self.timeout = settings.SOCIALACCOUNT_REQUESTS_TIMEOUT
        # Called on a 401: returns a renewed token to retry once with, or None.
        self.on_unauthorized = None

    @classmethod
    def default_api_url(cls):
        raise NotImplementedError

    def auth_headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    @staticmethod
    def basic(user, password):
        return "Authorization: Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    # --- HTTP ------------------------------------------------------------

    def url(self, path):
        return path if path.startswith(("http://", "https://")) else f"{self.api_url}{path}"

    def request(self, method, path, _retried=False, **kwargs):
        try:
            response = self.session.request(method, self.url(path), timeout=self.timeout, **kwargs)
        except requests.Timeout:
            raise Unavailable(f"{self.name} did not answer within {self.timeout} s") from None
        except requests.RequestException as e:
            raise Unavailable(f"{self.name} is unreachable ({type(e).__name__})") from None
        if response.status_code == 401 and self.on_unauthorized and not _retried:
            token = self.on_unauthorized()
            if token and token != self.token:
                self.token = token
                self.session.headers.update(self.auth_headers())
                return self.request(method, path, _retried=True, **kwargs)
        if response.status_code >= 400:
            raise self.error_for(response)
        return response

    def json(self, method, path, **kwargs):
        response = self.request(method, path, **kwargs)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Unavailable(
                f"{self.name} answered HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from None

    def paginate(self, path, params=None, max_pages=20):
        """Items of a list endpoint, following `Link: <…>; rel="next"`."""
        url, pages = path, 0
        while url and pages < max_pages:
            response = self.request("GET", url, params=params if pages == 0 else None)
            pages += 1
            items = response.json()
            if not isinstance(items, list):
                raise Unavailable(f"{self.name} answered a list request with {type(items).__name__}")
            yield from items
            url = response.links.get("next", {}).get("url")

    def message_of(self, response):
        try:
            body = response.json()
        except ValueError:
            return (response.text or "").strip()[:200]
        if not isinstance(body, dict):
            return ""
        message = str(body.get("message") or body.get("error_description") or body.get("error") or "")
        details = [
            str(e.get("message") or e.get("code") or "") for e in body.get("errors") or [] if isinstance(e, dict)
        ]
        details = [d for d in details if d]
        return "; ".join([message, *details]) if details else message

    def retry_after(self, response):
        value = response.headers.get("Retry-After", "").strip()
        if value.isdigit():
            return int(value)
        if value:
            try:
                return max(0, int(email.utils.parsedate_to_datetime(value).timestamp() - time.time()))
            except (TypeError, ValueError):
                pass
        reset = response.headers.get("X-RateLimit-Reset") or response.headers.get("RateLimit-Reset")
        if reset and reset.isdigit():
            return max(0, int(reset) - int(time.time()))
        return None

    def is_rate_limited(self, response):
        if response.status_code == 429:
            return True
        remaining = response.headers.get("X-RateLimit-Remaining") or response.headers.get("RateLimit-Remaining")
        return response.status_code == 403 and (remaining == "0" or "Retry-After" in response.headers)

    def error_for(self, response):
        status = response.status_code
        message = self.message_of(response)
        said = f"{self.name} answered HTTP {status}" + (f": {message}" if message else "")
        if status == 401:
            return BadCredentials(said, status)
        if self.is_rate_limited(response):
            return RateLimited(said, status, self.retry_after(response))
        if status == 404:
            return NotFound(said, status)
        if status >= 500:
            return Unavailable(said, status, self.retry_after(response))
        return Refused(said, status)

    # --- OAuth token renewal ----------------------------------------------

    @classmethod
    def token_url(cls):
        """The forge's OAuth token endpoint (RFC 6749 section 3.2)."""
        raise NotImplementedError

    @classmethod
    def refresh(cls, refresh_token):
        """Swap a refresh token for a new access token (RFC 6749 section 6):
        GitLab's access tokens last two hours, Gitea's one, GitHub Apps'
        eight. Returns (access_token, refresh_token, expires_in or None);
        BadCredentials when the forge refuses the refresh token (the user
        must sign in again), Unavailable/RateLimited when it may work later."""
        provider = cls.provider.upper()
        client = cls("")
        client.session.headers.pop("Authorization", None)
        client.session.headers["Accept"] = "application/json"
        try:
            data = client.json(
                "POST",
                cls.token_url(),
                data={
                    "grant_type": "refresh_token",
                    "refresh_token": refresh_token,
                    "client_id": getattr(settings, f"HERALD_{provider}_CLIENT_ID", ""),
                    "client_secret": getattr(settings, f"HERALD_{provider}_CLIENT_SECRET", ""),
                },
            )
        except Refused as e:
            # Section 5.2: 400 with invalid_grant, invalid_client, …
            raise BadCredentials(e.message, e.status) from None
        if not isinstance(data, dict) or data.get("error") or not data.get("access_token"):
            # GitHub answers a bad refresh token with 200 and an `error`.
            said = data.get("error_description") or data.get("error") if isinstance(data, dict) else None
            raise BadCredentials(f"{cls.name} did not renew the token" + (f": {said}" if said else ""))
        expires_in = data.get("expires_in")
        try:
            expires_in = int(expires_in) if expires_in not in (None, "") else None
        except (TypeError, ValueError):
            expires_in = None
        return data["access_token"], data.get("refresh_token") or refresh_token, expires_in

    # --- what each forge implements ----------------------------------------

    @classmethod
    def clone_auth_header(cls, login, token):
        raise NotImplementedError

    def user(self):
        raise NotImplementedError

    def repositories(self, max_pages=20):
        raise NotImplementedError

    def repository(self, full_name):
        raise NotImplementedError

    def organizations(self, max_pages=20):
        """Names of the organisations (GitLab: full paths of the groups) the
        token's user belongs to, for HERALD_ORGS."""
        raise NotImplementedError

    def create_hook(self, full_name, url, secret):
        raise NotImplementedError

    def delete_hook(self, full_name, hook_id):
        raise NotImplementedError

    def post_status(self, full_name, sha, state, description, target_url, context):
        raise NotImplementedError


def client_class(provider):
    """The API client class of a forge, or NotAdmin when Herald cannot talk
    to that forge's API (Gogs, Bitbucket)."""
    forge = forges.get(provider)
    if forge is None or forge.client is None:
        raise NotAdmin(f"Herald cannot talk to {provider}'s API")
    return forge.client


def client_for(provider, token):
    return client_class(provider)(token)
