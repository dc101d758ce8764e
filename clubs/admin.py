from django.contrib import admin

from clubs.models import Club

admin.site.register(Club, list_display=["name", "slug", "created"], search_fields=["name", "slug"])
