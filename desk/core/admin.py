from django.contrib import admin

from desk.core.models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "actor_label", "verb", "subject_type", "subject_id")
    list_filter = ("verb", "subject_type")
    search_fields = ("verb", "actor_label")
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request):  # the log is append-only
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
