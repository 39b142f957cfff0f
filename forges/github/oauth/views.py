from allauth.socialaccount.providers.github.views import GitHubOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings


class HeraldGitHubAdapter(GitHubOAuth2Adapter):
    """allauth's GitHub adapter with its URLs read from HERALD_GITHUB_URL and
    HERALD_GITHUB_API_URL on every request (GitHub Enterprise, tests)."""

    @property
    def authorize_url(self):
        return f"{settings.HERALD_GITHUB_URL}/login/oauth/authorize"

    @property
    def access_token_url(self):
        return f"{settings.HERALD_GITHUB_URL}/login/oauth/access_token"

    @property
    def profile_url(self):
        return f"{settings.HERALD_GITHUB_API_URL}/user"

    @property
    def emails_url(self):
        return f"{settings.HERALD_GITHUB_API_URL}/user/emails"


oauth2_login = OAuth2LoginView.adapter_view(HeraldGitHubAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(HeraldGitHubAdapter)
