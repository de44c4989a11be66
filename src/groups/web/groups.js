// Osprey consumer groups in the browser: join a group over the server's WebSocket (`/ws`),
// receive its events, ack / nak / term them. No dependencies; served at GET /v1/groups.js.
//
//   import { joinConsumerGroup } from "http://host:8222/v1/groups.js";
//   const sub = await joinConsumerGroup("ws://host:8222/ws", "order-workers", "orders.>", {
//     onEvent: (e, sub) => { ...; sub.ack(e.eventId); },
//     onError: (err) => console.warn(err.code, err.message),
//   });
//   sub.nak(eventId, 1500); sub.term(eventId); sub.close();
//
// After a successful join the module reconnects on its own (0.5 s doubling to 10 s) and
// rejoins with the same member id; only close(), or the server saying the subscription is
// over for good (e.g. the group was deleted), ends it. Node 18+: pass a WebSocket class as
// options.WebSocket (e.g. the `ws` package) when there is no globalThis.WebSocket.

const ACK_TIMEOUT_MS = 10_000; // an ack/nak/term not answered by then rejects
const JOIN_TIMEOUT_MS = 10_000; // socket open + subscription_result, per attempt
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
// Rejoin answers worth another try: the server may still hold the old member (it notices a
// dead socket only after its ping timeout) or be starting up. Anything else ends it.
const RETRYABLE_CODES = new Set(["already_exists", "unavailable", "internal", "deadline_exceeded"]);

// An Error carrying the server's (or this module's) code, as the API's errors do.
function groupError(code, message, extra = {}) {
  const err = new Error(message || code);
  err.code = code;
  return Object.assign(err, extra);
}

// ws(s)://… is taken as is; http(s)://host[/base] becomes ws(s)://host[/base]/ws.
// The token, if any, goes as ?token= (the browser WebSocket cannot set headers).
function socketUrl(url, token) {
  const u = new URL(String(url), globalThis.location?.href);
  if (u.protocol === "http:" || u.protocol === "https:") {
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (!u.pathname.endsWith("/ws")) u.pathname = u.pathname.replace(/\/+$/, "") + "/ws";
  } else if (u.protocol !== "ws:" && u.protocol !== "wss:") {
    throw groupError("invalid_argument", `not a ws(s):// or http(s):// URL: ${url}`);
  }
  if (token) u.searchParams.set("token", token);
  return u.toString();
}

// Text of a message from a browser WebSocket (string) or the `ws` package (string or Buffer).
function messageText(data) {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new TextDecoder().decode(data);
  return String(data);
}

export function joinConsumerGroup(url, groupName, pattern, options = {}) {
  const { onEvent = () => {}, onError = () => {}, token, ackMode = "manual" } = options;
  const WebSocketImpl = options.WebSocket || globalThis.WebSocket;
  if (typeof WebSocketImpl !== "function") {
    return Promise.reject(groupError("invalid_argument",
      "no WebSocket implementation: pass options.WebSocket (e.g. the `ws` package)"));
  }
  let target;
  try {
    target = socketUrl(url, token);
  } catch (e) {
    return Promise.reject(e);
  }

  let memberId = options.consumerId || null; // the server's id after the first join
  let subscriptionId = null;
  let ws = null; // the current socket
  let joined = false; // the current socket holds the subscription
  let closed = false; // close() was called or the server ended the subscription
  let backoff = BACKOFF_MIN_MS;
  let retryTimer = null;
  const pendingAcks = new Map(); // eventId -> [{ackType, resolve, reject, timer}], oldest first

  const report = (err) => {
    try { onError(err); } catch { /* the callback's own failure is not ours to handle */ }
  };

  function rejectAllAcks(err) {
    for (const list of pendingAcks.values()) {
      for (const p of list) { clearTimeout(p.timer); p.reject(err); }
    }
    pendingAcks.clear();
  }

  // Resolve or reject the oldest pending ack of this event (and type, when the server says).
  function settleAck(msg) {
    const id = String(msg.eventId);
    const list = pendingAcks.get(id);
    if (!list) return;
    let i = list.findIndex((p) => !msg.ackType || p.ackType === msg.ackType);
    if (i < 0) i = 0;
    const [p] = list.splice(i, 1);
    if (list.length === 0) pendingAcks.delete(id);
    clearTimeout(p.timer);
    if (msg.status === "ok") p.resolve();
    else p.reject(groupError(msg.code || "internal", msg.message || `${p.ackType} failed`, { eventId: id }));
  }

  function sendAck(eventId, ackType, delayMs) {
    return new Promise((resolve, reject) => {
      if (!joined || !ws || ws.readyState !== 1 /* OPEN */) {
        reject(groupError("unavailable", closed ? "subscription closed" : "not connected"));
        return;
      }
      const id = String(eventId);
      const msg = { type: "ack", eventId: id, ackType };
      if (ackType === "nak" && delayMs != null) msg.redeliverDelay = Math.max(0, Math.round(delayMs));
      const p = { ackType, resolve, reject, timer: null };
      p.timer = setTimeout(() => {
        const list = pendingAcks.get(id) || [];
        const i = list.indexOf(p);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) pendingAcks.delete(id);
        reject(groupError("deadline_exceeded", `no answer to ${ackType} of event ${id} in 10 s`));
      }, ACK_TIMEOUT_MS);
      if (!pendingAcks.has(id)) pendingAcks.set(id, []);
      pendingAcks.get(id).push(p);
      ws.send(JSON.stringify(msg));
    });
  }

  function scheduleReconnect() {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => { retryTimer = null; connect(); }, backoff);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  }

  // Ends the subscription for good (close() or a final answer of the server).
  function stop(err) {
    closed = true;
    clearTimeout(retryTimer);
    retryTimer = null;
    if (ws && ws.readyState < 2 /* CONNECTING or OPEN */) ws.close(1000);
    rejectAllAcks(err || groupError("unavailable", "subscription closed"));
  }

  const subscription = {
    get memberId() { return memberId; },
    get subscriptionId() { return subscriptionId; },
    get connected() { return joined; },
    ack: (eventId) => sendAck(eventId, "ack"),
    nak: (eventId, delayMs) => sendAck(eventId, "nak", delayMs),
    term: (eventId) => sendAck(eventId, "term"),
    // Leaves the group (unsubscribe) and closes; no reconnect after. Resolves once closed.
    close() {
      if (closed) return Promise.resolve();
      const sock = ws;
      if (joined && sock && sock.readyState === 1) {
        sock.send(JSON.stringify({ type: "unsubscribe", subscriptionId }));
      }
      const done = new Promise((resolve) => {
        if (!sock || sock.readyState === 3 /* CLOSED */) return resolve();
        const timer = setTimeout(resolve, 2000); // do not hang on a peer that never answers
        sock.addEventListener("close", () => { clearTimeout(timer); resolve(); });
      });
      stop();
      return done;
    },
  };

  // The first join settles this promise; later joins (reconnects) only report errors.
  let settleFirst;
  const firstJoin = new Promise((resolve, reject) => { settleFirst = { resolve, reject }; });
  let first = true;

  function connect() {
    if (closed) return;
    let sock;
    try {
      sock = new WebSocketImpl(target);
    } catch (e) {
      return failAttempt(groupError("unavailable", `cannot open ${target}: ${e.message}`));
    }
    ws = sock;
    joined = false;
    let answered = false; // this socket got its subscription_result
    const joinTimer = setTimeout(() => {
      if (answered) return;
      failAttempt(groupError("deadline_exceeded", "no subscription_result in 10 s"));
      sock.close();
    }, JOIN_TIMEOUT_MS);

    sock.addEventListener("open", () => {
      const opts = { consumerGroup: groupName, ackMode };
      if (memberId) opts.consumerId = memberId;
      sock.send(JSON.stringify({ type: "subscribe", subscription: { pattern, options: opts } }));
    });

    sock.addEventListener("message", (ev) => {
      if (sock !== ws) return;
      let msg;
      try {
        msg = JSON.parse(messageText(ev.data));
      } catch {
        return report(groupError("invalid_argument", "server sent a message that is not JSON"));
      }
      switch (msg.type) {
        case "subscription_result": {
          answered = true;
          clearTimeout(joinTimer);
          const r = (msg.results || []).find((x) => x.pattern === pattern) || (msg.results || [])[0] || {};
          if (r.status === "ok") {
            subscriptionId = r.subscriptionId;
            memberId = r.memberId || memberId;
            joined = true;
            backoff = BACKOFF_MIN_MS;
            if (first) { first = false; settleFirst.resolve(subscription); }
          } else {
            const err = groupError(r.code || "internal", r.message || "subscribe failed");
            err.retrying = !first && RETRYABLE_CODES.has(err.code);
            if (first) { stop(err); settleFirst.reject(err); }
            else if (err.retrying) { report(err); sock.close(); }
            else { stop(err); report(err); }
          }
          break;
        }
        case "event":
          // The subscription comes along: an event may arrive before the caller's await
          // of joinConsumerGroup has resumed.
          try { onEvent(msg, subscription); } catch (e) { report(e); }
          break;
        case "ack_result":
          settleAck(msg);
          break;
        case "subscription_error": {
          const err = groupError(msg.code || "internal", msg.message || "subscription ended",
            { subscriptionId: msg.subscriptionId, retrying: msg.retrying !== false });
          if (err.retrying) { joined = false; sock.close(); } // rejoin after the backoff
          else stop(err);
          report(err);
          break;
        }
        case "error":
          report(groupError(msg.code || "internal", msg.message || "server error", { retrying: true }));
          break;
        default:
          break; // newer server messages: ignore
      }
    });

    // A failed socket fires "error" then "close"; both paths end up here once.
    sock.addEventListener("close", (ev) => {
      clearTimeout(joinTimer);
      if (sock !== ws) return;
      joined = false;
      rejectAllAcks(groupError("unavailable", "disconnected"));
      if (!answered) failAttempt(groupError("unavailable",
        `WebSocket ${target} closed before joining (code ${ev.code})`));
      else scheduleReconnect();
    });
    sock.addEventListener("error", () => { /* the close event follows */ });
  }

  // A connection attempt that never got to join: the first one rejects the promise (a wrong
  // URL or token should not spin forever), later ones retry with backoff.
  function failAttempt(err) {
    if (closed) return;
    if (first) {
      first = false;
      stop(err);
      settleFirst.reject(err);
    } else {
      scheduleReconnect();
    }
  }

  connect();
  return firstJoin;
}
