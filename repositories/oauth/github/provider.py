from allauth.socialaccount.providers.github.provider import GitHubProvider

from repositories.oauth.github.views import HeraldGitHubAdapter


class HeraldGitHubProvider(GitHubProvider):
    oauth2_adapter_class = HeraldGitHubAdapter
