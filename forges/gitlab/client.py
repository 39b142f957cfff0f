"""GitLab REST API (/api/v4): projects are addressed by their URL-encoded
path, access levels are numbers, hooks carry a token instead of a secret."""

import re
from urllib.parse import quote

from django.conf import settings

from forges.client import Client, ForgeRepo, Refused

MAINTAINER, DEVELOPER, REPORTER, GUEST = 40, 30, 20, 10


def permission_of(project):
    """Maintainer (40) and Owner (50) manage hooks: admin; Developer (30)
    pushes: push; Reporter (20) reads the code: pull. A Guest (10) may not
    read a private project's code, so gets nothing there (builds show it)."""
    permissions = project.get("permissions") or {}
    levels = [(permissions.get(k) or {}).get("access_level") or 0 for k in ("project_access", "group_access")]
    level = max(levels)
    visibility = project.get("visibility")
    if level >= MAINTAINER:
        return "admin"
    if level >= DEVELOPER:
        return "push"
    if level >= REPORTER or visibility == "public" or (level >= GUEST and visibility == "internal"):
        return "pull"
    return None


# GitLab's answer when a status is posted again in the state it already is in
# (state_machines' InvalidTransition, e.g. "Cannot transition status via
# :enqueue from :pending"): the commit already shows what Herald wanted.
SAME_STATE = {"pending": "enqueue", "running": "run"}


class GitLabClient(Client):
    provider = "gitlab"
    name = "GitLab"

    @classmethod
    def default_api_url(cls):
        return settings.HERALD_GITLAB_API_URL

    @classmethod
    def clone_auth_header(cls, login, token):
        return cls.basic("oauth2", token)

    @staticmethod
    def path(full_name):
        return f"/projects/{quote(full_name, safe='')}"

    @staticmethod
    def to_repo(data):
        return ForgeRepo(
            full_name=data["path_with_namespace"],
            forge_id=str(data.get("id", "")),
            private=data.get("visibility") != "public",
            html_url=data.get("web_url") or "",
            clone_url=data.get("http_url_to_repo") or "",
            default_branch=data.get("default_branch") or "main",
            permission=permission_of(data),
        )

    def user(self):
        return self.json("GET", "/user")

    def repositories(self, max_pages=20):
        params = {"membership": "true", "per_page": 100, "order_by": "path", "sort": "asc"}
        for item in self.paginate("/projects", params=params, max_pages=max_pages):
            yield self.to_repo(item)

    def repository(self, full_name):
        return self.to_repo(self.json("GET", self.path(full_name)))

    def organizations(self, max_pages=20):
        # "List groups": min_access_level=10 (Guest) keeps the groups the user
        # is a member of, directly or through a parent group, rather than
        # every group they can see (all public ones).
        params = {"min_access_level": GUEST, "per_page": 100, "all_available": "false"}
        for item in self.paginate("/groups", params=params, max_pages=max_pages):
            yield item["full_path"]

    @classmethod
    def token_url(cls):
        return f"{settings.HERALD_GITLAB_URL}/oauth/token"

    def create_hook(self, full_name, url, secret):
        try:
            hook = self.json(
                "POST",
                f"{self.path(full_name)}/hooks",
                json={
                    "url": url,
                    "token": secret,
                    "push_events": True,
                    "tag_push_events": True,
                    "merge_requests_events": True,
                    "enable_ssl_verification": True,
                },
            )
        except Refused as e:
            if "Invalid url given" in e.message:
                raise Refused(
                    f"{e.message} ({url}). GitLab refuses webhook URLs on a local or private network "
                    "unless an administrator allows them (Admin area > Settings > Network > Outbound "
                    "requests); check HERALD_BASE_URL",
                    e.status,
                ) from None
            raise
        return str(hook["id"])

    def delete_hook(self, full_name, hook_id):
        self.request("DELETE", f"{self.path(full_name)}/hooks/{quote(str(hook_id), safe='')}")

    def post_status(self, full_name, sha, state, description, target_url, context):
        try:
            return self.json(
                "POST",
                f"{self.path(full_name)}/statuses/{sha}",
                json={
                    "state": state,
                    "description": description[:140],
                    "target_url": target_url,
                    "name": context,
                },
            )
        except Refused as e:
            # A retry of a post whose answer was lost, or a redelivered task:
            # GitLab refuses to move a status to the state it is already in.
            event = SAME_STATE.get(state)
            if e.status == 400 and event and re.search(rf"via :{event} from :{state}\b", e.message):
                return None
            raise
