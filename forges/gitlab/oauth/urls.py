from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from forges.gitlab.oauth.provider import HeraldGitLabProvider

urlpatterns = default_urlpatterns(HeraldGitLabProvider)
