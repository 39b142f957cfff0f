from allauth.account.signals import user_logged_in
from allauth.socialaccount.signals import social_account_added, social_account_updated
from django.apps import AppConfig


class RepositoriesConfig(AppConfig):
    name = "repositories"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Here, not at the top: the receiver's module imports models, which
        # exist only once the app registry is ready.
        from repositories.oauth.signals import remember_forge_account

        user_logged_in.connect(remember_forge_account, dispatch_uid="herald-forge-login")
        social_account_added.connect(remember_forge_account, dispatch_uid="herald-forge-added")
        social_account_updated.connect(remember_forge_account, dispatch_uid="herald-forge-updated")
