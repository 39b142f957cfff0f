from allauth.socialaccount.providers.gitlab.views import GitLabOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings


class HeraldGitLabAdapter(GitLabOAuth2Adapter):
    """allauth's GitLab adapter, pointed at HERALD_GITLAB_URL / HERALD_GITLAB_API_URL."""

    @property
    def authorize_url(self):
        return f"{settings.HERALD_GITLAB_URL}/oauth/authorize"

    @property
    def access_token_url(self):
        return f"{settings.HERALD_GITLAB_URL}/oauth/token"

    @property
    def profile_url(self):
        return f"{settings.HERALD_GITLAB_API_URL}/user"


oauth2_login = OAuth2LoginView.adapter_view(HeraldGitLabAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(HeraldGitLabAdapter)
