from allauth.socialaccount.providers.gitlab.provider import GitLabProvider

from forges.gitlab.oauth.views import HeraldGitLabAdapter


class HeraldGitLabProvider(GitLabProvider):
    oauth2_adapter_class = HeraldGitLabAdapter
