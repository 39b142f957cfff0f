from allauth.socialaccount.providers.gitea.views import GiteaOAuth2Adapter
from allauth.socialaccount.providers.oauth2.views import OAuth2CallbackView, OAuth2LoginView
from django.conf import settings


class HeraldGiteaAdapter(GiteaOAuth2Adapter):
    """allauth's Gitea adapter, pointed at HERALD_GITEA_URL / HERALD_GITEA_API_URL."""

    @property
    def authorize_url(self):
        return f"{settings.HERALD_GITEA_URL}/login/oauth/authorize"

    @property
    def access_token_url(self):
        return f"{settings.HERALD_GITEA_URL}/login/oauth/access_token"

    @property
    def profile_url(self):
        return f"{settings.HERALD_GITEA_API_URL}/user"


oauth2_login = OAuth2LoginView.adapter_view(HeraldGiteaAdapter)
oauth2_callback = OAuth2CallbackView.adapter_view(HeraldGiteaAdapter)
