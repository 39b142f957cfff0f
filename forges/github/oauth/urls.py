from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from forges.github.oauth.provider import HeraldGitHubProvider

urlpatterns = default_urlpatterns(HeraldGitHubProvider)
