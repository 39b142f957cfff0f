"""Herald's admin site: its name and colours, and the models grouped the
way an operator looks for them rather than by the Django app that happens
to define them.

Django's admin lists models app by app (django-q2's, allauth's, axes',
ours), which buries the few pages an operator uses among twenty internal
ones. `HeraldAdminSite.get_app_list` regroups the index and the sidebar
into GROUPS, in that order; any registered model no group names falls into
the last one, "Queue internals", which the index shows folded
(templates/admin/app_list.html), so every model stays reachable whatever a
library registers next. An app's own page (/admin/<app>/) keeps Django's
grouping: its breadcrumbs name the app.

Installed through ciproject.apps.HeraldAdminConfig (INSTALLED_APPS), so
`admin.site` and every `@admin.register` use this site.
"""

from django.contrib import admin

# (group name, its models as "app_label.ModelName", in the order listed).
GROUPS = [
    (
        "Repositories and their secrets",
        [
            "repositories.Repository",
            "repositories.Secret",
            "builds.Schedule",
            "repositories.Notification",
            "repositories.Membership",
        ],
    ),
    ("Builds", ["builds.Job", "builds.Worker", "builds.PruneRun"]),
    (
        "Deliveries",
        [
            "webhooks.Delivery",
            "repositories.CommitStatus",
            "repositories.NotificationDelivery",
        ],
    ),
    (
        "Accounts and tokens",
        [
            "auth.User",
            "auth.Group",
            "repositories.ApiToken",
            "repositories.ForgeAccount",
            "repositories.ForgeEvent",
            "socialaccount.SocialAccount",
            "socialaccount.SocialApp",
            "socialaccount.SocialToken",
            "account.EmailAddress",
            "axes.AccessAttempt",
            "axes.AccessFailureLog",
            "axes.AccessLog",
        ],
    ),
]
INTERNALS = "Queue internals"


def _slug(name):
    return name.lower().replace(" ", "-")


class HeraldAdminSite(admin.AdminSite):
    site_header = "Herald CI"
    site_title = "Herald CI admin"
    index_title = "Administration"

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        if app_label:
            return apps
        models = {f"{app['app_label']}.{m['object_name']}": (app, m) for app in apps for m in app["models"]}
        groups = []
        for name, wanted in GROUPS:
            found = [models.pop(key) for key in wanted if key in models]
            groups.append(self._group(name, [m for _, m in found]))
        # Whatever no group names (django-q2's tasks, log chunks, a model a
        # library adds later): last, folded, app by app.
        groups.append(self._group(INTERNALS, [m for _, m in models.values()]))
        return [g for g in groups if g["models"]]

    @staticmethod
    def _group(name, models):
        return {
            "name": name,
            # app_list.html names its CSS classes and ids after app_label.
            "app_label": _slug(name),
            "app_url": "",
            "has_module_perms": True,
            "models": models,
            "folded": name == INTERNALS,
        }
