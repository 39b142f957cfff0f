from allauth.socialaccount.adapter import get_adapter
from allauth.socialaccount.providers.gitlab.views import GitLabOAuth2Adapter, _check_errors
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

    def complete_login(self, request, app, token, **kwargs):
        # allauth sends the token as ?access_token=…, where proxies and
        # access logs keep it; GitLab takes it as a Bearer header just as well.
        with get_adapter().get_requests_session() as session:
            response = session.get(self.profile_url, headers={"Authorization": f"Bearer {token.token}"})
            data = _check_errors(response)
        return self.get_provider().sociallogin_from_response(request, data)


oauth2_login = OAuth2LoginView.adapter_view(HeraldGitLabAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(HeraldGitLabAdapter)
