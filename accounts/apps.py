from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from accounts import events
        from accounts.services.flags import members_joined_before

        # A beta cohort can be filled with the members who joined before a date.
        events.FEATURE_COHORT_RULES["joined_before"] = events.CohortRule(
            label="Members who joined before", user_ids=members_joined_before, needs_date=True
        )
