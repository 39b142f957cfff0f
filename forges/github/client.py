"""GitHub (and GitHub Enterprise Server) REST API, as documented at
docs.github.com/rest: the calls Herald needs and nothing else."""

from urllib.parse import quote

from django.conf import settings

from forges.client import Client, ForgeRepo, NotFound, Refused


def permission_of(permissions):
    permissions = permissions or {}
    if permissions.get("admin"):
        return "admin"
    if permissions.get("push") or permissions.get("maintain"):
        return "push"
    if permissions.get("pull") or permissions.get("triage"):
        return "pull"
    return None


class GitHubClient(Client):
    provider = "github"
    name = "GitHub"

    @classmethod
    def default_api_url(cls):
        return settings.HERALD_GITHUB_API_URL

    @classmethod
    def token_url(cls):
        return f"{settings.HERALD_GITHUB_URL}/login/oauth/access_token"

    def auth_headers(self):
        return {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    @classmethod
    def clone_auth_header(cls, login, token):
        # What GitHub documents for HTTPS git with an OAuth or app token.
        return cls.basic("x-access-token", token)

    @staticmethod
    def path(full_name):
        owner, _, name = full_name.partition("/")
        return f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}"

    @staticmethod
    def to_repo(data):
        return ForgeRepo(
            full_name=data["full_name"],
            forge_id=str(data.get("id", "")),
            private=bool(data.get("private")),
            html_url=data.get("html_url") or "",
            clone_url=data.get("clone_url") or "",
            default_branch=data.get("default_branch") or "main",
            permission=permission_of(data.get("permissions")),
        )

    def user(self):
        return self.json("GET", "/user")

    def repositories(self, max_pages=20):
        params = {"per_page": 100, "sort": "full_name", "affiliation": "owner,collaborator,organization_member"}
        for item in self.paginate("/user/repos", params=params, max_pages=max_pages):
            yield self.to_repo(item)

    def repository(self, full_name):
        return self.to_repo(self.json("GET", self.path(full_name)))

    def organizations(self, max_pages=20):
        # "List organizations for the authenticated user": needs read:org to
        # include private memberships; an organisation that restricts OAuth
        # apps is left out until its owner approves Herald.
        for item in self.paginate("/user/orgs", params={"per_page": 100}, max_pages=max_pages):
            yield item["login"]

    def create_hook(self, full_name, url, secret):
        body = {
            "name": "web",
            "active": True,
            "events": ["push", "pull_request"],
            "config": {"url": url, "content_type": "json", "secret": secret, "insecure_ssl": "0"},
        }
        try:
            hook = self.json("POST", f"{self.path(full_name)}/hooks", json=body)
        except Refused as e:
            # 422 "Hook already exists on this repository": a hook to this URL
            # survived an earlier enable; replace it (its secret is unknown).
            if e.status != 422 or "already exists" not in e.message.lower():
                raise
            for old in self.paginate(f"{self.path(full_name)}/hooks", params={"per_page": 100}):
                if (old.get("config") or {}).get("url") == url:
                    self.delete_hook(full_name, old["id"])
            hook = self.json("POST", f"{self.path(full_name)}/hooks", json=body)
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


__all__ = ["GitHubClient", "NotFound"]
