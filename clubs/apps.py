from django.apps import AppConfig


class ClubsConfig(AppConfig):
    name = "clubs"

    def ready(self) -> None:
        from accounts import events as account_events
        from clubs.selectors import club_account_export
        from clubs.services import club_account_deleting

        # A deleted account leaves every club (handing over a club it was the last admin of).
        account_events.hook_register(account_events.ACCOUNT_DELETING_HOOKS, club_account_deleting)
        account_events.ACCOUNT_EXPORT_SECTIONS["clubs"] = club_account_export
