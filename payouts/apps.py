from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PayoutsConfig(AppConfig):
    name = "payouts"

    def ready(self) -> None:
        from django.core import checks

        # Importing the tasks registers the jobs services queue by name (payouts/jobs.py).
        from payouts import tasks as tasks
        from payouts import webhooks
        from payouts.checks import stripe_configuration_check
        from payouts.services import charges, memberships, tickets, tips

        checks.register(stripe_configuration_check, "payouts")
        from payouts.setup import payouts_post_migrate

        webhooks.connect()
        # One payment lifecycle for every kind of charge; each kind brings its hooks.
        for kind in (tips.TIP_CHARGES, tickets.TICKET_CHARGES, memberships.MEMBERSHIP_CHARGES):
            charges.charge_kind_register(kind)

        from clubs.events import MEMBERSHIP_LOST_HOOKS
        from payouts.services.memberships import club_subscriptions_end_for_non_member

        if club_subscriptions_end_for_non_member not in MEMBERSHIP_LOST_HOOKS:
            MEMBERSHIP_LOST_HOOKS.append(club_subscriptions_end_for_non_member)
        from accounts import events as account_events
        from payouts.services.accounts import (
            payouts_account_delete_guard,
            payouts_account_deleting,
        )

        # Deleting an account waits for money in flight and ends the creator program.
        account_events.hook_register(
            account_events.ACCOUNT_DELETE_GUARDS, payouts_account_delete_guard
        )
        account_events.hook_register(
            account_events.ACCOUNT_DELETING_HOOKS, payouts_account_deleting
        )
        from payouts.selectors import (
            creator_send_money_settings,
            payouts_account_export,
            program_creator_follower_ids,
            send_money_for_profile,
        )
        from payouts.services.tickets import tickets_cancel_for_event
        from payouts.ticket_selectors import ticket_entry_denial
        from rooms import tickets_bridge

        # Rooms asks about tickets through its bridge: the gate at join, refunds on cancel.
        tickets_bridge.register(
            tickets_bridge.TicketDesk(
                entry_denial=ticket_entry_denial, event_cancelled=tickets_cancel_for_event
            )
        )

        account_events.ACCOUNT_EXPORT_SECTIONS["money"] = payouts_account_export
        # The profile (page and API) says, for whoever looks, whether the person can receive
        # money and whether the viewer may send it (the Send Money beta), and why not; the tip
        # service still checks everything.
        account_events.PROFILE_VIEWER_SECTIONS["money"] = send_money_for_profile
        account_events.SETTINGS_SECTIONS["send_money"] = creator_send_money_settings
        account_events.FEATURE_COHORT_RULES["followers_of_program_creators"] = (
            account_events.CohortRule(
                label="Followers of program creators", user_ids=program_creator_follower_ids
            )
        )
        post_migrate.connect(payouts_post_migrate, sender=self, dispatch_uid="payouts_setup")
        from clubhouse.metrics import scrape_collector_register
        from payouts.metrics import MONEY_COLLECTOR

        scrape_collector_register(MONEY_COLLECTOR)  # money gauges, read at scrape time
