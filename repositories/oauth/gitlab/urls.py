from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from repositories.oauth.gitlab.provider import HeraldGitLabProvider

urlpatterns = default_urlpatterns(HeraldGitLabProvider)
