// Parley's browser phone: a small wrapper over JsSIP that the /phone page and the operator's
// desk share. It registers with short-lived credentials of the web session (never the
// device's SIP password), answers, rejects, hangs up, holds, mutes, sends DTMF and transfers
// (blind and attended), and reports state as DOM events. JsSIP reconnects the WebSocket after
// a network blip and registers again; a call whose media kept flowing stays up. A node that
// restarted, or a standby that took over, does not know the page's credentials: a refused
// registration gets fresh ones and registers again by itself, backing off while it fails,
// on the same user agent while a call is up (a standby carries the call on).

/** @typedef {typeof import('jssip')} JsSIPModule */
/** @typedef {import('jssip/lib/UA').UA} UA */
/** @typedef {import('jssip/lib/RTCSession').RTCSession} RTCSession */

/**
 * What /api/phone/credentials answers.
 * @typedef {object} Credentials
 * @property {string} user
 * @property {string} username
 * @property {string} uri
 * @property {string} authorization_user
 * @property {string} password
 * @property {string} realm
 * @property {string} ws_url
 * @property {number} expires_in_s
 * @property {boolean} session_device
 * @property {RTCIceServer[]} [ice_servers]
 * @property {RTCIceTransportPolicy} [ice_transport_policy]
 */

/**
 * A call's state as the page shows it.
 * @typedef {"ringing" | "calling" | "talking" | "held" | "ended"} CallState
 */

/**
 * The detail of a "call" event.
 * @typedef {object} CallDetail
 * @property {string} id
 * @property {CallState} state
 * @property {"incoming" | "outgoing"} direction
 * @property {string} remote  the other party's number
 * @property {boolean} muted
 * @property {string} [cause]  why it ended
 * @property {Record<string, string>} [parley]  what Parley sent with an incoming call: its
 *   ``X-Parley-*`` headers without the prefix, lower-case (interaction, caller, queue, data;
 *   consult: the operator who consults this phone's user about the customer;
 *   monitor: the call a supervisor is being joined to)
 */

/**
 * The detail of a "registration" event.
 * @typedef {object} RegistrationDetail
 * @property {"connecting" | "registered" | "unregistered" | "failed"} state
 * @property {string} [cause]
 */

/**
 * The part of JsSIP's transport the page uses: raw data over the WebSocket.
 * @typedef {object} RawTransport
 * @property {() => boolean} isConnected
 * @property {(data: string) => boolean} send
 */

/** Failures JsSIP recovers from itself (it reconnects and registers again). */
const RECOVERED_BY_JSSIP = new Set(["Connection Error", "Request Timeout"]);
/** The first and the longest wait before registering again with fresh credentials (ms). */
const RENEW_FIRST_MS = 1000;
const RENEW_MAX_MS = 15000;
/**
 * How often a page in a call sends a keep-alive over its WebSocket: a connection whose node
 * went away with its host is found dead by the reset of the node that took over, so the
 * call's requests (the other party's BYE) reach the page again soon.
 */
const KEEPALIVE_MS = 5000;

/** The codecs a call the browser starts offers: PCMU and telephone-event only. */
const OFFERED = ["audio/PCMU", "audio/telephone-event"];

/**
 * @typedef {object} SoftphoneOptions
 * @property {JsSIPModule} JsSIP
 * @property {() => Promise<Credentials>} credentials  asks the server for fresh ones
 * @property {HTMLAudioElement} [audio]  where the other party is heard (created if absent)
 * @property {"RFC2833" | "INFO"} [dtmf]  how key presses travel (default RFC 4733 events)
 */

export class Softphone extends EventTarget {
  /** @param {SoftphoneOptions} options */
  constructor(options) {
    super();
    this.JsSIP = options.JsSIP;
    this.fetchCredentials = options.credentials;
    this.audio = options.audio ?? document.createElement("audio");
    this.audio.autoplay = true;
    this.dtmf = options.dtmf ?? "RFC2833";
    /** @type {UA | null} */
    this.ua = null;
    /** @type {Map<string, RTCSession>} */
    this.sessions = new Map();
    /** @type {Credentials | null} */
    this.given = null;
    /** @type {number | undefined} */
    this.refreshTimer = undefined;
    /** @type {number | undefined} */
    this.renewTimer = undefined;
    /** @type {number | undefined} */
    this.keepAliveTimer = undefined;
    this.renewWaitMs = RENEW_FIRST_MS;
    /** started and not stopped: a refused registration is renewed */
    this.running = false;
  }

  /** Fetch credentials, connect and register; resolves once the first attempt is under way. */
  async start() {
    this.running = true;
    const given = await this.fetchCredentials();
    this.given = given;
    const socket = new this.JsSIP.WebSocketInterface(given.ws_url);
    const ua = new this.JsSIP.UA({
      sockets: [socket],
      uri: given.uri,
      authorization_user: given.authorization_user,
      password: given.password,
      realm: given.realm,
      register: true,
      register_expires: 300,
      session_timers: false,
      connection_recovery_min_interval: 1,
      connection_recovery_max_interval: 10,
      user_agent: "Parley browser phone",
    });
    this.ua = ua;
    ua.on("connecting", () => this.registration("connecting"));
    ua.on("registered", () => {
      this.renewWaitMs = RENEW_FIRST_MS;
      this.registration("registered");
    });
    ua.on("unregistered", () => this.registration("unregistered"));
    ua.on("registrationFailed", (/** @type {{cause?: string}} */ event) => {
      this.registration("failed", event.cause);
      if (!RECOVERED_BY_JSSIP.has(event.cause ?? "")) this.renew();
    });
    ua.on("newRTCSession", (/** @type {import('jssip/lib/UA').RTCSessionEvent} */ event) =>
      this.adopt(event.session, event.originator === "remote",
        event.originator === "remote" ? parleyHeaders(event.request) : undefined));
    ua.start();
    this.scheduleRefresh(given.expires_in_s);
  }

  /** Stop: end calls, unregister, close the socket. */
  stop() {
    this.running = false;
    window.clearTimeout(this.refreshTimer);
    window.clearTimeout(this.renewTimer);
    window.clearInterval(this.keepAliveTimer);
    this.renewTimer = this.keepAliveTimer = undefined;
    this.ua?.stop();
    this.ua = null;
  }

  /**
   * The node refused the registration (it does not know these credentials after a restart
   * or a takeover, or it was the standby): start again with fresh ones after a wait that
   * doubles while it keeps failing.
   */
  renew() {
    if (this.renewTimer !== undefined || !this.running) return;
    const wait = this.renewWaitMs;
    this.renewWaitMs = Math.min(RENEW_MAX_MS, wait * 2);
    this.renewTimer = window.setTimeout(async () => {
      this.renewTimer = undefined;
      if (!this.running) return;  // stopped meanwhile
      if (this.ua && this.sessions.size > 0) {  // a call is up: it must stay
        try {
          await this.rekey();
        } catch (error) {
          this.registration("failed", String(error));
          this.renew();
        }
        return;
      }
      window.clearTimeout(this.refreshTimer);
      this.ua?.stop();
      this.ua = null;
      try {
        await this.start();
      } catch (error) {  // no credentials now (the node is down or standing by)
        this.registration("failed", String(error));
        this.renew();
      }
    }, wait);
  }

  /**
   * Register again with fresh credentials on the same user agent, whose calls go on: a
   * standby that took over carries the call on, and the browser's requests for it travel
   * over the new connection once it is registered.
   */
  async rekey() {
    const given = await this.fetchCredentials();
    const ua = this.ua;
    if (!ua || !this.running) return;
    this.given = given;
    ua.set("authorization_user", given.authorization_user);
    ua.set("password", given.password);
    ua.register();
    this.scheduleRefresh(given.expires_in_s);
  }

  /**
   * Fresh credentials before these expire: same name, new password (JsSIP takes it for the
   * next REGISTER refresh).
   * @param {number} seconds
   */
  scheduleRefresh(seconds) {
    window.clearTimeout(this.refreshTimer);
    const wait = Math.max(10, seconds * 0.8) * 1000;
    this.refreshTimer = window.setTimeout(async () => {
      try {
        const given = await this.fetchCredentials();
        this.given = given;
        this.ua?.set("password", given.password);
        this.scheduleRefresh(given.expires_in_s);
      } catch (error) {
        this.registration("failed", String(error));
      }
    }, wait);
  }

  /**
   * @param {RegistrationDetail["state"]} state
   * @param {string} [cause]
   */
  registration(state, cause) {
    /** @type {RegistrationDetail} */
    const detail = cause ? { state, cause } : { state };
    this.dispatchEvent(new CustomEvent("registration", { detail }));
  }

  /**
   * Follow a new call (incoming or started here).
   * @param {RTCSession} session
   * @param {boolean} incoming
   * @param {Record<string, string>} [parley]  the call's X-Parley-* headers
   */
  adopt(session, incoming, parley) {
    this.sessions.set(session.id, session);
    /** @param {CallState} state @param {string} [cause] */
    const report = (state, cause) => this.report(session, state, incoming, cause, parley);
    session.on("peerconnection", (event) => this.listen(event.peerconnection));
    if (session.connection) this.listen(session.connection);
    session.on("connecting", () => preferPcmu(session.connection));
    session.on("progress", () => report(incoming ? "ringing" : "calling"));
    session.on("confirmed", () => report("talking"));
    session.on("hold", () => report("held"));
    session.on("unhold", () => report("talking"));
    session.on("muted", () => report(session.isOnHold().local ? "held" : "talking"));
    session.on("unmuted", () => report(session.isOnHold().local ? "held" : "talking"));
    session.on("ended", (event) => { this.forget(session); report("ended", event.cause); });
    session.on("failed", (event) => { this.forget(session); report("ended", event.cause); });
    if (this.keepAliveTimer === undefined) {
      this.keepAliveTimer = window.setInterval(() => this.probe(), KEEPALIVE_MS);
    }
    report(incoming ? "ringing" : "calling");
  }

  /**
   * A call ended: no keep-alives once none is left.
   * @param {RTCSession} session
   */
  forget(session) {
    this.sessions.delete(session.id);
    if (this.sessions.size === 0) {
      window.clearInterval(this.keepAliveTimer);
      this.keepAliveTimer = undefined;
    }
  }

  /**
   * Play the other party in the audio element.
   * @param {RTCPeerConnection} connection
   */
  listen(connection) {
    connection.addEventListener("track", (event) => {
      const stream = event.streams[0] ?? new MediaStream([event.track]);
      this.audio.srcObject = stream;
      this.dispatchEvent(new CustomEvent("remotestream", { detail: stream }));
    });
    let interrupted = false;
    connection.addEventListener("iceconnectionstatechange", () => {
      const state = connection.iceConnectionState;
      if (state === "disconnected") {
        interrupted = true;
      } else if (interrupted && (state === "connected" || state === "completed")) {
        interrupted = false;
        this.probe();
      }
    });
  }

  /**
   * A keep-alive (CRLF, RFC 5626 §4.4.1) over the WebSocket, ignored by a live node. A
   * standby may have taken the call over after its node's host went away, leaving this
   * page's connection dead without knowing it: the keep-alive is then answered by a reset
   * from whichever node now has the address, and JsSIP connects again and registers. Sent
   * every KEEPALIVE_MS during a call, and at once when the call's media comes back after
   * an interruption.
   */
  probe() {
    // JsSIP's UA has its transport as a getter its type declarations leave out
    const ua = /** @type {{ transport?: RawTransport } | null} */ (
      /** @type {unknown} */ (this.ua));
    const transport = ua?.transport;
    if (transport?.isConnected()) transport.send("\r\n\r\n");
  }

  /**
   * @param {RTCSession} session
   * @param {CallState} state
   * @param {boolean} incoming
   * @param {string} [cause]
   * @param {Record<string, string>} [parley]
   */
  report(session, state, incoming, cause, parley) {
    /** @type {CallDetail} */
    const detail = {
      id: session.id,
      state,
      direction: incoming ? "incoming" : "outgoing",
      remote: session.remote_identity?.uri?.user ?? "",
      muted: Boolean(session.isMuted?.().audio),
    };
    if (cause) detail.cause = cause;
    if (parley) detail.parley = parley;
    this.dispatchEvent(new CustomEvent("call", { detail }));
  }

  /** @param {string} [id] @returns {RTCSession} */
  session(id) {
    const session = id ? this.sessions.get(id) : [...this.sessions.values()].at(-1);
    if (!session) throw new Error("no call");
    return session;
  }

  /**
   * Call a number; the offer carries PCMU and telephone-event only.
   * @param {string} number
   * @returns {string} the call's id
   */
  call(number) {
    if (!this.ua) throw new Error("not started");
    const session = this.ua.call(number, {
      mediaConstraints: { audio: true, video: false },
      pcConfig: this.pcConfig(),
      rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
    });
    return session.id;
  }

  /** @param {string} [id] */
  answer(id) {
    this.session(id).answer({ mediaConstraints: { audio: true, video: false },
      pcConfig: this.pcConfig() });
  }

  /**
   * The call's media set-up: the STUN/TURN servers the node gave with the credentials.
   * @returns {RTCConfiguration}
   */
  pcConfig() {
    return { iceServers: this.given?.ice_servers ?? [],
      iceTransportPolicy: this.given?.ice_transport_policy ?? "all" };
  }

  /** @param {string} [id] */
  reject(id) {
    this.session(id).terminate({ status_code: 486, reason_phrase: "Busy Here" });
  }

  /** @param {string} [id] */
  hangup(id) {
    this.session(id).terminate();
  }

  /** @param {boolean} on @param {string} [id] */
  hold(on, id) {
    const session = this.session(id);
    if (on) session.hold(); else session.unhold();
  }

  /** @param {boolean} on @param {string} [id] */
  mute(on, id) {
    const session = this.session(id);
    if (on) session.mute({ audio: true }); else session.unmute({ audio: true });
  }

  /** @param {string} tones digits 0-9, *, #, A-D @param {string} [id] */
  sendDtmf(tones, id) {
    const transportType = this.JsSIP.C.DTMF_TRANSPORT[this.dtmf];
    this.session(id).sendDTMF(tones, { transportType, duration: 120, interToneGap: 80 });
  }

  /**
   * Blind transfer: the other party is sent to ``number``.
   * @param {string} number @param {string} [id]
   */
  transfer(number, id) {
    this.session(id).refer(number);
  }

  /**
   * Attended transfer: the other party of call ``id`` is joined with the party of call
   * ``consultation`` (the one asked first), and this phone leaves both.
   * @param {string} id @param {string} consultation
   */
  attendedTransfer(id, consultation) {
    this.session(id).refer(this.session(consultation).remote_identity.uri, {
      replaces: this.session(consultation),
    });
  }
}

/** The X-Parley-* headers Parley puts on the calls it offers an operator. */
const PARLEY_HEADERS = ["Interaction", "Caller", "Dialled", "Queue", "Language", "Data",
  "Consult", "Monitor"];

/**
 * What Parley attached to an incoming call, by lower-case name without the prefix.
 * @param {import('jssip/lib/SIPMessage').IncomingRequest} request
 * @returns {Record<string, string>}
 */
export function parleyHeaders(request) {
  /** @type {Record<string, string>} */
  const found = {};
  for (const name of PARLEY_HEADERS) {
    const value = request.getHeader(`X-Parley-${name}`);
    if (value) found[name.toLowerCase()] = value;
  }
  return found;
}

/**
 * Offer PCMU (and telephone-event) only, so that the browser's calls need no transcoding.
 * @param {RTCPeerConnection | undefined} connection
 */
export function preferPcmu(connection) {
  if (!connection || typeof RTCRtpReceiver.getCapabilities !== "function") return;
  const capabilities = RTCRtpReceiver.getCapabilities("audio");
  if (!capabilities) return;
  const codecs = capabilities.codecs.filter(
    (codec) => OFFERED.includes(codec.mimeType) && codec.clockRate === 8000);
  for (const transceiver of connection.getTransceivers()) {
    if (transceiver.receiver.track?.kind === "audio" && codecs.length > 0) {
      transceiver.setCodecPreferences(codecs);
    }
  }
}
