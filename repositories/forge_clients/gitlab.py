"""GitLab REST API (/api/v4): projects are addressed by their URL-encoded
path, access levels are numbers, hooks carry a token instead of a secret."""

from urllib.parse import quote

from django.conf import settings

from repositories.forge_clients.base import Client, ForgeRepo

MAINTAINER, DEVELOPER, REPORTER, GUEST = 40, 30, 20, 10


def permission_of(project):
    permissions = project.get("permissions") or {}
    levels = [(permissions.get(k) or {}).get("access_level") or 0 for k in ("project_access", "group_access")]
    level = max(levels)
    if level >= MAINTAINER:
        return "admin"
    if level >= DEVELOPER:
        return "push"
    if level >= GUEST or project.get("visibility") == "public":
        return "pull"
    return None


class GitLabClient(Client):
    provider = "gitlab"
    name = "GitLab"
    STATES = {
        "queued": "pending", "running": "running", "success": "success", "skipped": "success",
        "failed": "failed", "timed_out": "failed", "errored": "failed", "cancelled": "canceled",
    }

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
            full_name=data["path_with_namespace"], forge_id=str(data.get("id", "")),
            private=data.get("visibility") != "public", html_url=data.get("web_url") or "",
            clone_url=data.get("http_url_to_repo") or "", default_branch=data.get("default_branch") or "main",
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

    def create_hook(self, full_name, url, secret):
        hook = self.json("POST", f"{self.path(full_name)}/hooks", json={
            "url": url, "token": secret, "push_events": True, "tag_push_events": True,
            "merge_requests_events": True, "enable_ssl_verification": True,
        })
        return str(hook["id"])

    def delete_hook(self, full_name, hook_id):
        self.request("DELETE", f"{self.path(full_name)}/hooks/{quote(str(hook_id), safe='')}")

    def post_status(self, full_name, sha, state, description, target_url, context):
        return self.json("POST", f"{self.path(full_name)}/statuses/{sha}", json={
            "state": state, "description": description[:140], "target_url": target_url, "name": context,
        })
