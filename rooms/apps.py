from django.apps import AppConfig


class RoomsConfig(AppConfig):
    name = "rooms"

    def ready(self) -> None:
        # Imported here, not at the top: Django imports this module while it loads the apps,
        # before models may be imported; ready() runs once they all are.
        from accounts import events as account_events
        from clubs import events as club_events
        from rooms import schedule_selectors, selectors, services, ws_actions
        from rooms.realtime import broadcast, domain
        from rooms.relay_bridge import relay_room_event
        from rooms.selectors import room_account_export
        from rooms.services import (
            room_account_deleting,
            room_account_disabled,
            room_club_access_lost,
            room_user_blocked,
        )

        # The realtime transport sits below the room domain and calls it through this.
        domain.register(
            domain.RoomDomain(
                join=services.room_join,
                leave=services.room_leave,
                snapshot=selectors.room_snapshot,
                audience_count=selectors.room_audience_count,
                actions=ws_actions.ACTIONS,
                enter=services.room_enter,
            )
        )

        # The media relay obeys the stage (mutes, moves, removals, the end) on every room event.
        broadcast.room_event_listen(relay_room_event)
        # Whoever loses a club's access leaves its members-only rooms (registered once).
        if room_club_access_lost not in club_events.MEMBERSHIP_LOST_HOOKS:
            club_events.MEMBERSHIP_LOST_HOOKS.append(room_club_access_lost)
        # A banned account's sockets close and it leaves every room (registered once).
        if room_account_disabled not in account_events.ACCOUNT_DISABLED_HOOKS:
            account_events.ACCOUNT_DISABLED_HOOKS.append(room_account_disabled)
        # A moderator's new block takes the blocked person out of their rooms (registered once).
        if room_user_blocked not in account_events.USER_BLOCKED_HOOKS:
            account_events.USER_BLOCKED_HOOKS.append(room_user_blocked)
        account_events.hook_register(account_events.ACCOUNT_DELETING_HOOKS, room_account_deleting)
        account_events.ACCOUNT_EXPORT_SECTIONS["rooms"] = room_account_export
        # accounts' personal events (a new notification, notifications read) reach the sockets.
        account_events.personal_event_sender_register(broadcast.user_send)
        # The weekly digest mail lists the person's events of the coming week.
        account_events.DIGEST_SECTIONS["events"] = schedule_selectors.event_digest_lines
        from clubhouse.metrics import scrape_collector_register
        from rooms.metrics import ROOMS_COLLECTOR

        scrape_collector_register(ROOMS_COLLECTOR)  # clubhouse_rooms_live, read at scrape time
