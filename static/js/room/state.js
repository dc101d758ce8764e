// The room as the page knows it: a snapshot, then room events and personal pushes applied to it.
// Pure data, no DOM: `apply*` return a list of announcements (short sentences for the live
// region) so the view can tell screen-reader users what changed on stage.

// Why the system took you out of a room (`room.removed` data.reason); a moderator's removal
// carries no reason.
const REMOVED_BECAUSE = {
  club_access_lost: { code: "club_access_lost", message: "You no longer have access to this club's rooms." },
  blocked_by_moderator: { code: "blocked_by_moderator", message: "A moderator of this room blocked you." },
  ticket_refunded: { code: "ticket_refunded", message: "Your ticket was refunded, so you left the room. Buy a ticket to listen again." },
};

export class RoomState {
  constructor(meId) {
    this.meId = meId;
    this.room = null;
    this.stage = new Map(); // user id -> {user, role, muted}
    this.audience = []; // [{user, hand_raised?}]
    this.audienceCursor = null;
    this.audienceCount = 0;
    this.hands = []; // [{user, raised_at}]
    this.handsCount = 0;
    this.you = { role: null, hand_raised: false, muted: null, speaker_invited: false };
    this.speaking = new Map(); // user id -> level
    this.ended = false;
    this.gone = null; // {code, message} once we may no longer be here
    this.people = new Map(); // user id -> card, for names in announcements
  }

  get onStage() {
    return this.you.role === "speaker" || this.you.role === "moderator";
  }

  get isModerator() {
    return this.you.role === "moderator";
  }

  /** Everyone in the room: the stage and the audience (whose count the server pushes). */
  get participantCount() {
    return this.stage.size + this.audienceCount;
  }

  /** At capacity: the server refuses newcomers (`room_full`). */
  get full() {
    return !!(this.room && this.room.capacity && this.participantCount >= this.room.capacity);
  }

  get pinnedLink() {
    return (this.room && this.room.pinned_link) || null;
  }

  name(userId) {
    const card = this.people.get(userId);
    if (userId === this.meId) return "You";
    return card ? card.name || card.username : "Someone";
  }

  _remember(user) {
    if (user && user.id) this.people.set(user.id, user);
  }

  applySnapshot(s) {
    this.room = s.room;
    this.stage = new Map();
    for (const row of s.stage || []) {
      this._remember(row.user);
      this.stage.set(row.user.id, { user: row.user, role: row.role, muted: row.muted });
    }
    const audience = s.audience || { items: [], next_cursor: null };
    this.audience = audience.items.slice();
    this.audience.forEach((item) => this._remember(item.user));
    this.audienceCursor = audience.next_cursor;
    this.audienceCount = s.audience_count || 0;
    this.hands = (s.hands || []).slice();
    this.hands.forEach((h) => this._remember(h.user));
    this.handsCount = s.hands_count || 0;
    this.you = { ...this.you, ...(s.you || {}) };
    this.ended = s.room && s.room.status === "ended";
    // Speaking rings of people who left the stage meanwhile must not linger.
    for (const id of [...this.speaking.keys()]) if (!this.stage.has(id)) this.speaking.delete(id);
  }

  appendAudience(page) {
    const known = new Set(this.audience.map((i) => i.user.id));
    for (const item of page.items || []) {
      this._remember(item.user);
      if (!known.has(item.user.id)) this.audience.push(item);
    }
    this.audienceCursor = page.next_cursor;
    if (typeof page.audience_count === "number") this.audienceCount = page.audience_count;
  }

  replaceAudience(page) {
    this.audience = [];
    this.appendAudience(page);
  }

  _dropFromAudience(userId) {
    this.audience = this.audience.filter((i) => i.user.id !== userId);
    this.hands = this.hands.filter((h) => h.user.id !== userId);
  }

  /** A sequenced room event. Returns announcements. */
  applyEvent(event) {
    const d = event.data || {};
    const said = [];
    switch (event.type) {
      case "room.speaker_added": {
        this._remember(d.user);
        this.stage.set(d.user.id, { user: d.user, role: d.role || "speaker", muted: !!d.muted });
        this._dropFromAudience(d.user.id);
        if (d.user.id === this.meId) {
          this.you = { ...this.you, role: "speaker", muted: !!d.muted, hand_raised: false, speaker_invited: false };
          said.push("You are on stage. Your microphone is muted.");
        } else {
          said.push(`${this.name(d.user.id)} joined the stage.`);
        }
        break;
      }
      case "room.speaker_removed": {
        const row = this.stage.get(d.user_id);
        this.stage.delete(d.user_id);
        this.speaking.delete(d.user_id);
        if (row && d.reason !== "left_room") {
          this.audience.unshift({ user: row.user });
        }
        if (d.user_id === this.meId) {
          this.you = { ...this.you, role: d.reason === "left_room" ? null : "listener", muted: null };
          said.push(
            d.reason === "moved_by_moderator"
              ? "A moderator moved you to the audience."
              : "You left the stage.",
          );
        } else {
          said.push(
            d.reason === "left_room"
              ? `${this.name(d.user_id)} left the room.`
              : `${this.name(d.user_id)} moved to the audience.`,
          );
        }
        break;
      }
      case "room.moderator_added": {
        this._remember(d.user);
        const row = this.stage.get(d.user.id);
        this.stage.set(d.user.id, {
          user: d.user,
          role: "moderator",
          muted: row ? row.muted : true,
        });
        this._dropFromAudience(d.user.id);
        if (d.user.id === this.meId) {
          this.you = { ...this.you, role: "moderator", muted: row ? row.muted : true, hand_raised: false };
          said.push("You are now a moderator.");
        } else {
          said.push(`${this.name(d.user.id)} is now a moderator.`);
        }
        break;
      }
      case "room.moderator_removed": {
        const row = this.stage.get(d.user_id);
        if (row) row.role = "speaker";
        if (d.user_id === this.meId) {
          this.you = { ...this.you, role: "speaker" };
          this.hands = [];
          said.push("You are no longer a moderator.");
        } else {
          said.push(`${this.name(d.user_id)} is no longer a moderator.`);
        }
        break;
      }
      case "room.speaker_muted":
      case "room.speaker_unmuted": {
        const row = this.stage.get(d.user_id);
        const muted = event.type === "room.speaker_muted";
        if (row) row.muted = muted;
        if (muted) this.speaking.delete(d.user_id);
        if (d.user_id === this.meId) {
          this.you = { ...this.you, muted };
          if (muted && d.by && d.by !== this.meId) said.push("A moderator muted you.");
        }
        break;
      }
      case "room.hands_changed":
        this.handsCount = d.count;
        break;
      case "room.hand_policy_changed":
        if (this.room) this.room.hand_raise_policy = d.policy;
        said.push(d.policy === "off" ? "Hand raising is now off." : "Hand raising is on.");
        break;
      case "room.pinned_link_changed":
        if (this.room) this.room.pinned_link = d.pinned_link || null;
        said.push(
          d.pinned_link
            ? `A moderator pinned a link: ${d.pinned_link.title || d.pinned_link.url}`
            : "The pinned link was removed.",
        );
        break;
      case "room.user_removed": {
        this.stage.delete(d.user_id);
        this.speaking.delete(d.user_id);
        this._dropFromAudience(d.user_id);
        if (d.user_id === this.meId) {
          this.gone = { code: "removed_from_room", message: "A moderator removed you from this room." };
          said.push(this.gone.message);
        } else {
          said.push(`${this.name(d.user_id)} was removed from the room.`);
        }
        break;
      }
      case "room.ended":
        this.ended = true;
        if (this.room) this.room.status = "ended";
        this.speaking.clear();
        said.push("The room has ended.");
        break;
      default:
        break;
    }
    return said;
  }

  /** A personal or ephemeral push (no seq). Returns announcements. */
  applyPush(push) {
    const d = push.data || {};
    const said = [];
    switch (push.type) {
      case "room.audience_count":
        this.audienceCount = d.count;
        break;
      case "room.speaking":
        if (d.speaking && this.stage.has(d.user_id)) this.speaking.set(d.user_id, d.level);
        else this.speaking.delete(d.user_id);
        break;
      case "room.speaker_invited":
        this._remember(d.by);
        this.you = { ...this.you, speaker_invited: true };
        said.push(`${d.by ? d.by.name : "A moderator"} invites you to speak.`);
        break;
      case "room.speaker_invite_declined":
        this._remember(d.user);
        said.push(`${this.name(d.user.id)} declined to speak.`);
        break;
      case "room.hand_raised":
        this._remember(d.user);
        if (!this.hands.some((h) => h.user.id === d.user.id)) {
          this.hands.push({ user: d.user, raised_at: d.raised_at });
        }
        said.push(`${this.name(d.user.id)} raised a hand.`);
        break;
      case "room.hand_lowered":
        this.hands = this.hands.filter((h) => h.user.id !== d.user.id);
        if (d.user.id === this.meId) {
          this.you = { ...this.you, hand_raised: false };
          if (d.by) said.push("A moderator lowered your hand.");
        }
        break;
      case "room.removed":
        this.gone = REMOVED_BECAUSE[d.reason] || {
          code: "removed_from_room",
          message: "A moderator removed you from this room.",
        };
        break;
      default:
        break;
    }
    return said;
  }
}
