from allauth.socialaccount.providers.gitlab.provider import GitLabProvider

from repositories.oauth.gitlab.views import HeraldGitLabAdapter


class HeraldGitLabProvider(GitLabProvider):
    oauth2_adapter_class = HeraldGitLabAdapter
