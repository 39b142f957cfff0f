from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from forges.gitea.oauth.provider import HeraldGiteaProvider

urlpatterns = default_urlpatterns(HeraldGiteaProvider)
