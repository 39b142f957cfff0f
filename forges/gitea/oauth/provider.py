from allauth.socialaccount.providers.gitea.provider import GiteaProvider

from forges.gitea.oauth.views import HeraldGiteaAdapter


class HeraldGiteaProvider(GiteaProvider):
    oauth2_adapter_class = HeraldGiteaAdapter

    def get_default_scope(self):
        return ["read:user", "write:repository"]
