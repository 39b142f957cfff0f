from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from repositories.oauth.github.provider import HeraldGitHubProvider

urlpatterns = default_urlpatterns(HeraldGitHubProvider)
