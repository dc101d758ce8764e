from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Imported here, not at the top: Django imports this module while it loads the apps,
        # before models may be imported; ready() runs once they all are.
        from accounts import events
        from accounts.selectors import members_joined_before

        # A beta cohort can be filled with the members who joined before a date.
        events.FEATURE_COHORT_RULES["joined_before"] = events.CohortRule(
            label="Members who joined before", user_ids=members_joined_before, needs_date=True
        )
