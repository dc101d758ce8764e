"""Every write about rooms. Each service authenticates the actor as a member, takes the room row
lock (`select_for_update`), checks the move is legal, writes, allocates the room's next `seq` for
a stage event, and queues its events on commit through rooms.events.

Idempotent by design: repeating an action whose outcome already holds returns quietly and sends
nothing (raising a raised hand, muting a muted speaker, ending an ended room).

Import services from here (`from rooms import services; services.room_join(...)`); the
submodules are an implementation detail.
"""

from rooms.services.lifecycle import (
    room_account_deleting,
    room_account_disabled,
    room_club_access_lost,
    room_create,
    room_end,
    room_end_by_staff,
    room_enter,
    room_join,
    room_join_without_socket,
    room_leave,
    room_leave_everywhere,
    room_ticket_lost,
    room_user_blocked,
    room_visits_expire,
)
from rooms.services.moderation import (
    room_ping,
    room_pinned_link_clear,
    room_pinned_link_set,
    room_user_remove,
)
from rooms.services.reports import room_report_create, room_report_review
from rooms.services.stage import (
    room_hand_lower,
    room_hand_policy_set,
    room_hand_raise,
    room_moderator_add,
    room_moderator_remove,
    room_self_mute,
    room_self_unmute,
    room_speaker_invite,
    room_speaker_invite_accept,
    room_speaker_invite_decline,
    room_speaker_move_to_audience,
    room_speaker_mute,
    room_stage_leave,
)

__all__ = [
    "room_account_deleting",
    "room_account_disabled",
    "room_club_access_lost",
    "room_create",
    "room_end",
    "room_end_by_staff",
    "room_enter",
    "room_hand_lower",
    "room_hand_policy_set",
    "room_hand_raise",
    "room_join",
    "room_join_without_socket",
    "room_leave",
    "room_leave_everywhere",
    "room_moderator_add",
    "room_moderator_remove",
    "room_ping",
    "room_pinned_link_clear",
    "room_pinned_link_set",
    "room_report_create",
    "room_report_review",
    "room_self_mute",
    "room_self_unmute",
    "room_speaker_invite",
    "room_speaker_invite_accept",
    "room_speaker_invite_decline",
    "room_speaker_move_to_audience",
    "room_speaker_mute",
    "room_stage_leave",
    "room_ticket_lost",
    "room_user_blocked",
    "room_user_remove",
    "room_visits_expire",
]
