from django.apps import AppConfig


class ClubsConfig(AppConfig):
    name = "clubs"

    def ready(self) -> None:
        # Imported here, not at the top: Django imports this module while it loads the apps,
        # before models may be imported; ready() runs once they all are.
        from accounts import events as account_events
        from clubs.selectors import club_account_export, club_list_for_profile
        from clubs.services import club_account_deleting

        # A deleted account leaves every club (handing over a club it was the last admin of).
        account_events.hook_register(account_events.ACCOUNT_DELETING_HOOKS, club_account_deleting)
        account_events.ACCOUNT_EXPORT_SECTIONS["clubs"] = club_account_export
        # The profile page lists the clubs the person belongs to.
        account_events.PROFILE_SECTIONS["clubs"] = club_list_for_profile
