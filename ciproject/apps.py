from django.contrib.admin.apps import AdminConfig


class HeraldAdminConfig(AdminConfig):
    """django.contrib.admin with Herald's site (ciproject/admin.py)."""

    default_site = "ciproject.admin.HeraldAdminSite"
