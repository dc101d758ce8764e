// Audio through the room's relay (docs/relay.md): one RTCPeerConnection at a time.
//
// The offer carries `slots` recvonly audio m-lines (the relay maps the room's loudest talkers
// onto them; RELAY_LISTENER_SLOTS, from the page and again from GET rtc/ice-servers/) plus, on stage, one sendonly m-line for the microphone. The relay answers each offer
// with a brand-new connection (new DTLS fingerprint), which a browser cannot renegotiate into an
// existing one, so every offer here is made by a fresh RTCPeerConnection and the previous one is
// closed once the new answer is in. The microphone track outlives them all.

const GATHER_TIMEOUT_MS = 4000;
const DISCONNECTED_GRACE_MS = 4000;
// ICE servers (STUN, and TURN with a credential minted for this member: docs/operations.md,
// "TURN, NAT and firewalls") are fetched again when they have less than this left.
const ICE_REFRESH_MARGIN_S = 300;
// A connection not carrying audio this long after the answer is stuck (a network that drops
// the relay's UDP, an unreachable relay): the page says so and tries a new connection with
// fresh ICE servers, again and again, until one connects.
const NO_AUDIO_AFTER_MS = 10000; // as the relay's RELAY_ICE_FAILURE_AFTER_S: a stall is counted there

export class AudioLink {
  /**
   * @param {object} opts
   * @param {import("./socket.js").RoomSocket} opts.socket
   * @param {number} opts.slots               RELAY_LISTENER_SLOTS (the page's; the API's
   *        `listener_slots` replaces it when fetched)
   * @param {HTMLElement} opts.sink           where <audio> elements live
   * @param {RTCIceServer[]} [opts.iceServers]     used when `fetchIceServers` is absent or fails
   * @param {() => Promise<{ice_servers: RTCIceServer[], expires_at: number|null, listener_slots: number}>} [opts.fetchIceServers]
   *        GET /api/v1/rtc/ice-servers/: asked before each new connection whose servers are
   *        about to expire, and again before they do
   * @param {(state: string, detail?: object) => void} opts.onState
   *        "idle" | "connecting" | "connected" | "retrying" | "stalled" | "closed" | "error"
   *        ("stalled": no audio within NO_AUDIO_AFTER_MS; it keeps trying until "connected")
   */
  constructor(opts) {
    this.socket = opts.socket;
    this.slots = opts.slots;
    this.sink = opts.sink;
    this.iceServers = opts.iceServers || [];
    this.fetchIceServers = opts.fetchIceServers || null;
    this.iceExpiresAt = 0; // unix seconds; 0: never fetched (or no TURN: nothing expires)
    this.iceFetched = false;
    this.iceTimer = null;
    this.stallTimer = null;
    this.stalled = false; // no connection has carried audio since the last stall
    this.noAudioAfterMs = opts.noAudioAfterMs || NO_AUDIO_AFTER_MS;
    this.onState = opts.onState || (() => {});
    this.pc = null;
    this.micTrack = null;
    this.publishing = false;
    this.wanted = false;
    this.busy = null;
    this.again = false;
    this.retries = 0;
    this.retryTimer = null;
    this.disconnectTimer = null;
    this.workerId = null;
    this.micAccepted = false; // the current connection carries our mic (the relay said yes)
    this.micRefusals = 0;
  }

  /** Start (or restart) audio. `publish` adds the microphone m-line (needs setMic first). */
  async start({ publish = false } = {}) {
    this.wanted = true;
    this.publishing = publish && !!this.micTrack;
    return this.renegotiate();
  }

  setMic(track) {
    this.micTrack = track;
  }

  /** Local half of muting: the track sends silence at once, before the server confirms. */
  setMicEnabled(enabled) {
    if (this.micTrack) this.micTrack.enabled = enabled;
  }

  setPublishing(publish) {
    this.publishing = publish && !!this.micTrack;
  }

  /**
   * Whether the current connection already is what a new offer would ask for: connected (or
   * connecting), and publishing the mic exactly when `publish` (the relay accepted the mic
   * m-line). Lets a redundant `stage_changed` skip a connection replacement.
   */
  matches(publish) {
    const pc = this.pc;
    if (!pc || this.busy || ["failed", "closed", "disconnected"].includes(pc.connectionState)) {
      return false;
    }
    const mic = pc.getTransceivers().find((t) => t.direction === "sendonly");
    if (!publish) return !mic;
    return !!mic && mic.currentDirection === "sendonly" && mic.sender.track === this.micTrack;
  }

  /** Make a new offer; concurrent calls collapse into one more offer after the running one. */
  renegotiate() {
    if (!this.wanted) return Promise.resolve();
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    this.busy = (async () => {
      try {
        do {
          this.again = false;
          await this._offer();
        } while (this.again && this.wanted);
        this.retries = 0;
      } catch (err) {
        this._retryLater(err);
      } finally {
        this.busy = null;
      }
    })();
    return this.busy;
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.disconnectTimer);
    clearTimeout(this.iceTimer);
    clearTimeout(this.stallTimer);
    this.stalled = false;
    if (this.pc) this.pc.close();
    this.pc = null;
    this.sink.replaceChildren();
    this.onState("closed");
  }

  /** Stop sending and release the microphone (the browser's mic indicator goes off). */
  releaseMic() {
    if (this.micTrack) this.micTrack.stop();
    this.micTrack = null;
    this.publishing = false;
  }

  async _offer() {
    this.onState(this.stalled ? "stalled" : "connecting");
    const iceServers = await this._freshIceServers();
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: "max-bundle" });
    const elements = [];
    try {
      if (this.publishing && this.micTrack) {
        pc.addTransceiver(this.micTrack, {
          direction: "sendonly",
          streams: [new MediaStream([this.micTrack])],
        });
      }
      for (let i = 0; i < this.slots; i += 1) pc.addTransceiver("audio", { direction: "recvonly" });
      pc.addEventListener("track", (ev) => {
        const audio = document.createElement("audio");
        audio.autoplay = true;
        audio.dataset.mid = ev.transceiver.mid || "";
        audio.srcObject = new MediaStream([ev.track]);
        elements.push(audio);
      });
      await pc.setLocalDescription(await pc.createOffer());
      await waitForGathering(pc);
      const reply = await this.socket.action("rtc.offer", { sdp: pc.localDescription.sdp });
      if (!this.wanted) {
        pc.close();
        return;
      }
      await pc.setRemoteDescription({ type: "answer", sdp: reply.sdp });
      this.workerId = reply.worker_id || null;
    } catch (err) {
      pc.close();
      throw err;
    }
    const old = this.pc;
    this.pc = pc;
    if (old) old.close();
    this.micAccepted = false;
    const mic = pc.getTransceivers().find((t) => t.direction === "sendonly");
    if (mic && mic.currentDirection !== "sendonly") {
      // The relay answered our mic m-line `inactive`: it did not know yet that we are on
      // stage (its room state lags the event we reacted to). Ask again shortly.
      this.micRefusals = (this.micRefusals || 0) + 1;
      if (this.micRefusals <= 5) setTimeout(() => this.renegotiate(), 500 * this.micRefusals);
    } else if (mic) {
      this.micRefusals = 0;
      this.micAccepted = true;
    }
    this.sink.replaceChildren(...elements);
    for (const audio of elements) audio.play().catch(() => {});
    pc.addEventListener("connectionstatechange", () => this._watch(pc));
    this._watch(pc);
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => this._stallCheck(pc), this.noAudioAfterMs);
  }

  /** No audio yet on this connection: say so, and try a new one with fresh ICE servers. */
  _stallCheck(pc) {
    if (pc !== this.pc || !this.wanted || pc.connectionState === "connected") return;
    this.stalled = true;
    this.iceFetched = false; // the next connection asks for the servers again
    this.onState("stalled", { connectionState: pc.connectionState });
    this.renegotiate();
  }

  /**
   * The ICE servers for a new connection: fetched when never fetched or about to expire (so a
   * retry, which is a new connection, uses fresh TURN credentials); on a failed fetch, the last
   * ones (or none: host candidates still work on open networks).
   */
  async _freshIceServers() {
    if (!this.fetchIceServers) return this.iceServers;
    const now = Date.now() / 1000;
    if (this.iceFetched && (!this.iceExpiresAt || this.iceExpiresAt - now > ICE_REFRESH_MARGIN_S)) {
      return this.iceServers;
    }
    try {
      const got = await this.fetchIceServers();
      this.iceServers = got.ice_servers || [];
      this.iceExpiresAt = got.expires_at || 0;
      if (Number.isInteger(got.listener_slots) && got.listener_slots > 0) {
        this.slots = got.listener_slots; // as many receive streams as the relay forwards
      }
      this.iceFetched = true;
      this._scheduleIceRefresh();
    } catch (err) {
      console.warn("Could not fetch ICE servers; using the last ones.", err);
    }
    return this.iceServers;
  }

  /**
   * Before the TURN credential expires: fetch new servers, and if the current connection runs
   * through TURN (coturn refuses to refresh an allocation with an expired credential), move it
   * to a new connection built with them.
   */
  _scheduleIceRefresh() {
    clearTimeout(this.iceTimer);
    if (!this.iceExpiresAt) return;
    const inMs = (this.iceExpiresAt - ICE_REFRESH_MARGIN_S) * 1000 - Date.now();
    this.iceTimer = setTimeout(async () => {
      this.iceFetched = false;
      if (!this.wanted) return;
      const type = await this.candidateType();
      if (type === "relay") this.renegotiate();
      else await this._freshIceServers();
    }, Math.max(1000, inMs));
  }

  /** The local candidate type of the current connection's selected pair (host, srflx, prflx,
   * relay), or null before one is selected. */
  async candidateType() {
    const pc = this.pc;
    if (!pc) return null;
    const report = await pc.getStats();
    let pairId = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    });
    const pair = pairId ? report.get(pairId) : null;
    const local = pair ? report.get(pair.localCandidateId) : null;
    return local ? local.candidateType : null;
  }

  _watch(pc) {
    if (pc !== this.pc) return;
    const state = pc.connectionState;
    clearTimeout(this.disconnectTimer);
    if (state === "connected") {
      clearTimeout(this.stallTimer);
      this.stalled = false;
      this.onState("connected", { workerId: this.workerId, publishing: this.micAccepted });
    } else if (state === "failed") {
      this._retryLater(new Error("The audio connection failed."));
    } else if (state === "disconnected") {
      // ICE often recovers from a short blip by itself; re-offer if it does not.
      this.disconnectTimer = setTimeout(() => {
        if (pc === this.pc && pc.connectionState !== "connected") this.renegotiate();
      }, DISCONNECTED_GRACE_MS);
    }
  }

  _retryLater(err) {
    if (!this.wanted) return;
    const code = err && err.code;
    if (code === "not_in_room" || code === "room_ended" || code === "removed_from_room") {
      this.onState("error", err);
      return;
    }
    this.retries += 1;
    const delay = Math.min(15000, 1000 * 2 ** Math.min(this.retries - 1, 4));
    this.onState(this.stalled ? "stalled" : "retrying", { error: err, delay });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.renegotiate(), delay);
  }

  /** Summed inbound-rtp audio stats of the current connection (tests and the debug panel). */
  async inboundStats() {
    const out = { packetsReceived: 0, totalAudioEnergy: 0, audioLevel: 0, bytesReceived: 0 };
    if (!this.pc) return out;
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "inbound-rtp" || s.kind !== "audio") return;
      out.packetsReceived += s.packetsReceived || 0;
      out.bytesReceived += s.bytesReceived || 0;
      out.totalAudioEnergy += s.totalAudioEnergy || 0;
      out.audioLevel = Math.max(out.audioLevel, s.audioLevel || 0);
    });
    return out;
  }

  async outboundStats() {
    const out = { packetsSent: 0, bytesSent: 0 };
    if (!this.pc) return out;
    const report = await this.pc.getStats();
    report.forEach((s) => {
      if (s.type !== "outbound-rtp" || s.kind !== "audio") return;
      out.packetsSent += s.packetsSent || 0;
      out.bytesSent += s.bytesSent || 0;
    });
    return out;
  }
}

function waitForGathering(pc) {
  // Non-trickle: the offer goes out with every candidate in it (the relay does not need rtc.ice).
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve();
    };
    // Past the timeout, send what we have: host candidates come first and suffice on a LAN.
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    }, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}
