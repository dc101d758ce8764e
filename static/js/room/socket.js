// The room socket (docs/protocol.md): requests with replies, pushes, and the snapshot + seq rule.
//
// RoomSocket owns one WebSocket at a time. When it drops for any reason other than a refusal
// (4401/4403), it reconnects with backoff, sends `room.join` again and hands the new snapshot to
// `onSnapshot`; the server's 15 s grace period keeps our place meanwhile, so nobody sees a blip.

export class RoomError extends Error {
  constructor(code, message, fields = {}, retryAfter = null) {
    super(message || code);
    this.code = code;
    this.fields = fields || {};
    this.retryAfter = retryAfter; // ms, on `room_busy`
  }
}

// `room_busy` (docs/protocol.md): the web process is saturated. Join again after the server's
// `retry_after` (jittered again here), at most this many times, then give up with a message.
export const JOIN_BUSY_ATTEMPTS = 8;
const JOIN_BUSY_FALLBACK_MS = 1000;

const REQUEST_TIMEOUT_MS = 15000;
const CLOSE_REFUSED = new Set([4401, 4403]);

export class RoomSocket {
  /**
   * @param {object} opts
   * @param {number} opts.roomId
   * @param {string} [opts.url] ws URL, defaults to /ws/ on this host
   * @param {(snapshot: object, why: "join"|"rejoin"|"resync") => void} opts.onSnapshot
   * @param {(event: object) => void} opts.onEvent  room events in seq order (gaps repaired)
   * @param {(push: object) => void} opts.onPush    personal and ephemeral pushes (no seq)
   * @param {(status: string, detail?: object) => void} opts.onStatus
   *        "connecting" | "joining" | "live" | "reconnecting" | "refused" | "gone"
   *        ("joining": the server answered room_busy; detail {attempt, retryAfter})
   */
  constructor(opts) {
    this.roomId = opts.roomId;
    this.url = opts.url || defaultUrl();
    this.onSnapshot = opts.onSnapshot;
    this.onEvent = opts.onEvent;
    this.onPush = opts.onPush;
    this.onStatus = opts.onStatus || (() => {});
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.seq = null; // null until the join reply: room events are ignored until then
    this.syncing = false;
    this.held = [];
    this.attempt = 0;
    this.stopped = false;
    this.joined = false;
    this.reconnectTimer = null;
    this.busyAttempts = 0;
    this.joinTimer = null;
  }

  start() {
    this.stopped = false;
    this._open();
  }

  /** Leave for good: no reconnection. `quietly` sends room.leave first. */
  async stop({ leave = false } = {}) {
    if (leave && this.ws && this.ws.readyState === WebSocket.OPEN) {
      try {
        await this.request("room.leave", {}, 5000);
      } catch (_err) {
        // leaving anyway; the grace period ends our presence if the frame was lost
      }
    }
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.joinTimer);
    if (this.ws) this.ws.close(1000);
    this._failPending(new RoomError("closed", "The connection was closed."));
  }

  /** Send a request; resolves with the reply's data, rejects with a RoomError. */
  request(type, payload = {}, timeoutMs = REQUEST_TIMEOUT_MS) {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      return Promise.reject(new RoomError("offline", "You are offline. Reconnecting…"));
    }
    const id = `r${this.nextId++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RoomError("timeout", "The server did not answer in time. Try again."));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      ws.send(JSON.stringify({ id, type, ...payload }));
    });
  }

  /** A room action: adds room_id to the payload. */
  action(type, payload = {}) {
    return this.request(type, { room_id: this.roomId, ...payload });
  }

  // --- connection ------------------------------------------------------------------------

  _open() {
    this.onStatus(this.attempt === 0 ? "connecting" : "reconnecting");
    let ws;
    try {
      ws = new WebSocket(this.url, ["clubhouse.v1"]);
    } catch (_err) {
      this._scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.seq = null;
    this.syncing = false;
    this.held = [];
    ws.addEventListener("open", () => this._join());
    ws.addEventListener("message", (msg) => this._onMessage(msg));
    ws.addEventListener("close", (ev) => this._onClose(ev, ws));
  }

  async _join() {
    const rejoin = this.joined;
    try {
      const snapshot = await this.request("room.join", { room_id: this.roomId });
      this.attempt = 0;
      this.busyAttempts = 0;
      this.joined = true;
      this.seq = snapshot.seq;
      this.onStatus("live");
      this.onSnapshot(snapshot, rejoin ? "rejoin" : "join");
    } catch (err) {
      if (err.code === "offline" || err.code === "closed" || err.code === "timeout") return;
      if (err.code === "room_busy" && this.busyAttempts < JOIN_BUSY_ATTEMPTS) {
        this._joinAgainLater(err.retryAfter);
        return;
      }
      if (err.code === "room_busy") {
        err.message = "This room is very busy right now. Try again in a minute.";
      }
      // A domain refusal (room ended, removed, ticket required...): final, do not retry.
      this.stopped = true;
      this.onStatus("gone", err);
      if (this.ws) this.ws.close(1000);
    }
  }

  _joinAgainLater(retryAfter) {
    this.busyAttempts += 1;
    const base = Number(retryAfter) > 0 ? Number(retryAfter) : JOIN_BUSY_FALLBACK_MS;
    // The server jitters already; a little more of our own keeps retries of one burst apart.
    const delay = base * (0.8 + Math.random() * 0.4);
    this.onStatus("joining", { attempt: this.busyAttempts, retryAfter: delay });
    const ws = this.ws;
    this.joinTimer = setTimeout(() => {
      this.joinTimer = null;
      if (!this.stopped && ws === this.ws && ws.readyState === WebSocket.OPEN) this._join();
    }, delay);
  }

  _onClose(ev, ws) {
    if (ws !== this.ws) return;
    this._failPending(new RoomError("offline", "The connection dropped. Reconnecting…"));
    if (this.stopped) return;
    if (CLOSE_REFUSED.has(ev.code)) {
      this.stopped = true;
      this.onStatus("refused", this.refusal || new RoomError("not_authenticated", "Please log in again."));
      return;
    }
    this._scheduleReconnect();
  }

  _scheduleReconnect() {
    this.onStatus("reconnecting");
    // 0.5 s, 1 s, 2 s ... capped at 10 s, with jitter so a restarted server is not stampeded.
    const base = Math.min(10000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this._open();
    }, base / 2 + Math.random() * (base / 2));
  }

  /** Back online: skip the rest of the backoff. */
  reconnectNow() {
    if (this.stopped || !this.reconnectTimer) return;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this._open();
  }

  /** For tests and for the "network blip" path: drop the socket as a lost network would. */
  simulateDrop() {
    if (this.ws) this.ws.close(4000);
  }

  _failPending(err) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.pending.clear();
  }

  // --- frames ----------------------------------------------------------------------------

  _onMessage(msg) {
    let frame;
    try {
      frame = JSON.parse(msg.data);
    } catch (_err) {
      return;
    }
    if (frame.type === "reply" || (frame.type === "error" && frame.id)) {
      const waiter = this.pending.get(frame.id);
      if (!waiter) return;
      this.pending.delete(frame.id);
      clearTimeout(waiter.timer);
      if (frame.type === "reply") waiter.resolve(frame.data || {});
      else waiter.reject(new RoomError(frame.code, frame.message, frame.fields, frame.retry_after));
      return;
    }
    if (frame.type === "error") {
      // Errors without a request: authentication (the close follows) or rate limiting.
      this.refusal = new RoomError(frame.code, frame.message, frame.fields);
      this.onPush({ type: "client.error", error: this.refusal });
      return;
    }
    // Pings invite us elsewhere: the one push about another room worth showing here.
    if (frame.type === "room.pinged") {
      this.onPush(frame);
      return;
    }
    if (frame.room_id !== undefined && frame.room_id !== this.roomId) return;
    // The server's Redis subscription came back: events may have been missed (docs/protocol.md).
    if (frame.type === "room.resync") {
      if (this.seq !== null && !this.syncing) this._resync();
      return;
    }
    if (typeof frame.seq === "number") this._onRoomEvent(frame);
    else this.onPush(frame);
  }

  _onRoomEvent(event) {
    if (this.seq === null) return; // before the join reply: the snapshot will cover it
    if (this.syncing) {
      this.held.push(event);
      return;
    }
    if (event.seq <= this.seq) return;
    if (event.seq === this.seq + 1) {
      this.seq = event.seq;
      this.onEvent(event);
      return;
    }
    this.held.push(event);
    this._resync();
  }

  async _resync() {
    this.syncing = true;
    try {
      const snapshot = await this.request("room.snapshot");
      this.seq = snapshot.seq;
      this.onSnapshot(snapshot, "resync");
    } catch (_err) {
      // The socket dropped while resyncing: the rejoin brings a fresh snapshot anyway.
      return;
    } finally {
      this.syncing = false;
    }
    const held = this.held.sort((a, b) => a.seq - b.seq);
    this.held = [];
    for (const event of held) this._onRoomEvent(event);
  }
}

function defaultUrl() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}/ws/`;
}
