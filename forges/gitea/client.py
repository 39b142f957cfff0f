"""Gitea and Forgejo REST API (/api/v1), which follows GitHub's shapes for
the calls Herald needs."""

from urllib.parse import quote

from django.conf import settings

from forges.client import Client, NotFound
from forges.github.client import GitHubClient


class GiteaClient(Client):
    provider = "gitea"
    name = "Gitea"
    to_repo = staticmethod(GitHubClient.to_repo)
    path = staticmethod(GitHubClient.path)

    @classmethod
    def default_api_url(cls):
        return settings.HERALD_GITEA_API_URL

    def auth_headers(self):
        return {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}

    @classmethod
    def token_url(cls):
        return f"{settings.HERALD_GITEA_URL}/login/oauth/access_token"

    @classmethod
    def clone_auth_header(cls, login, token):
        return cls.basic(login or "oauth2", token)

    def user(self):
        return self.json("GET", "/user")

    def repositories(self, max_pages=20):
        for item in self.paginate("/user/repos", params={"limit": 50}, max_pages=max_pages):
            yield self.to_repo(item)

    def repository(self, full_name):
        return self.to_repo(self.json("GET", self.path(full_name)))

    def organizations(self, max_pages=20):
        # "List the current user's organizations"; `username` is the org's
        # name (newer Gitea and Forgejo also send it as `name`).
        for item in self.paginate("/user/orgs", params={"limit": 50}, max_pages=max_pages):
            yield item.get("username") or item["name"]

    def create_hook(self, full_name, url, secret):
        # Gitea (unlike GitHub, which answers 422 "Hook already exists")
        # accepts any number of hooks to one URL: a hook Herald lost track of
        # would stay, with a stale secret, and every push would be delivered
        # twice. Remove hooks to Herald's URL before creating the new one.
        for old in list(self.paginate(f"{self.path(full_name)}/hooks", params={"limit": 50})):
            if (old.get("config") or {}).get("url") == url:
                try:
                    self.delete_hook(full_name, old["id"])
                except NotFound:
                    pass
        hook = self.json(
            "POST",
            f"{self.path(full_name)}/hooks",
            json={
                "type": "gitea",
                "active": True,
                "events": ["push", "pull_request"],
                "config": {"url": url, "content_type": "json", "secret": secret},
            },
        )
        return str(hook["id"])

    def delete_hook(self, full_name, hook_id):
        self.request("DELETE", f"{self.path(full_name)}/hooks/{quote(str(hook_id), safe='')}")

    def post_status(self, full_name, sha, state, description, target_url, context):
        return self.json(
            "POST",
            f"{self.path(full_name)}/statuses/{sha}",
            json={
                "state": state,
                "description": description[:140],
                "target_url": target_url,
                "context": context,
            },
        )
