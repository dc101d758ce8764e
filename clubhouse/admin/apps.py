from django.contrib.admin.apps import AdminConfig


class StaffAdminConfig(AdminConfig):
    """django.contrib.admin with the staff home as its default site: every `admin.register`
    (ours and the libraries') lands on it, and `admin.site` is it."""

    default_site = "clubhouse.admin.site.StaffAdminSite"
