from allauth.socialaccount.providers.github.provider import GitHubProvider

from forges.github.oauth.views import HeraldGitHubAdapter


class HeraldGitHubProvider(GitHubProvider):
    oauth2_adapter_class = HeraldGitHubAdapter
