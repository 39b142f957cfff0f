from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from repositories.oauth.gitea.provider import HeraldGiteaProvider

urlpatterns = default_urlpatterns(HeraldGiteaProvider)
