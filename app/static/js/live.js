/* Relaydesk live updates (docs/contracts.md "Inbox contracts", real time).
 *
 * Opens the workspace's event stream (Server-Sent Events, GET /inbox/stream) and dispatches
 * each event on `document` as a CustomEvent whose `detail` is the event's data:
 *   relaydesk:message       message.new      (a message in or out; conversation_id, preview…)
 *   relaydesk:status        message.status   (a delivery status moved)
 *   relaydesk:conversation  conversation.updated (status, assignee, unread)
 *   relaydesk:typing        typing           (a teammate types in a conversation)
 *   relaydesk:presence      presence         (a member's availability or presence)
 *   relaydesk:reset         events were lost (reload what the page shows)
 * The browser reconnects by itself when the server ends a stream (its lifetime is capped) and
 * resumes after the last event id; when the server refuses (503, a network failure that closes
 * the stream) this script reconnects with a growing delay (1 s, 2 s, 4 s … 30 s).
 *
 * `data-refresh="list"`: the page is a list (Logs › Conversations): a new message re-reads the
 * page in the background and swaps its [data-relaydesk-live-list] element in, so the
 * conversation moves to the top (debounced: one read for a burst of events).
 * Sound and browser notification on a new inbound message, per the member's preferences.
 * Typing: a <textarea data-relaydesk-typing="<conversation id>"> publishes the member's typing
 * (at most every 3 s), and `window.RelaydeskLive.typing(id)` does the same for scripts.
 */
(function () {
  "use strict";
  var NAMES = {
    "message.new": "relaydesk:message",
    "message.status": "relaydesk:status",
    "conversation.updated": "relaydesk:conversation",
    "typing": "relaydesk:typing",
    "presence": "relaydesk:presence",
    "reset": "relaydesk:reset"
  };

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  ready(function () {
    var root = document.getElementById("relaydesk-live");
    var allow = document.querySelector("[data-relaydesk-notify-allow]");
    if (allow) {
      if (!("Notification" in window)) { allow.hidden = true; }
      allow.addEventListener("click", function (e) {
        e.preventDefault();
        if ("Notification" in window && Notification.permission === "default") {
          Notification.requestPermission();
        }
      });
    }
    if (!root || !window.EventSource) { return; }
    var cfg = root.dataset;
    var me = cfg.user;
    var state = document.getElementById("live-state");
    var lastId = null;
    var delay = 1000;
    var source = null;
    var timer = null;
    var sound = null;

    function show(text) { if (state) { state.textContent = text || ""; } }

    function emit(name, detail) {
      document.dispatchEvent(new CustomEvent(NAMES[name] || ("relaydesk:" + name), { detail: detail }));
    }

    function notify(data) {
      if (data.direction !== "in" || data.source === "outbound") { return; }
      if (cfg.sound) {
        try {
          sound = sound || new Audio(cfg.soundUrl);
          sound.currentTime = 0;
          var played = sound.play();
          if (played && played.catch) { played.catch(function () {}); }
        } catch (err) { /* a browser without audio */ }
      }
      if (cfg.desktop && "Notification" in window && Notification.permission === "granted" &&
          document.visibilityState !== "visible") {
        try {
          new Notification(cfg.titleNew, { body: data.preview || "", tag: "relaydesk-" + data.conversation_id });
        } catch (err) { /* notifications refused by the browser */ }
      }
    }

    function connect() {
      var url = cfg.streamUrl;
      if (lastId) { url += (url.indexOf("?") < 0 ? "?" : "&") + "last_event_id=" + encodeURIComponent(lastId); }
      source = new EventSource(url, { withCredentials: true });
      source.onopen = function () { delay = 1000; show(cfg.stateLive); root.dataset.connected = "1"; };
      source.onerror = function () {
        root.dataset.connected = "";
        show(cfg.stateOffline);
        if (source.readyState === EventSource.CLOSED) {  // refused: reconnect ourselves, later
          clearTimeout(timer);
          timer = setTimeout(connect, delay);
          delay = Math.min(delay * 2, 30000);
        }
      };
      Object.keys(NAMES).forEach(function (name) {
        source.addEventListener(name, function (ev) {
          if (ev.lastEventId) { lastId = ev.lastEventId; }
          var data = {};
          try { data = JSON.parse(ev.data || "{}"); } catch (err) { return; }
          emit(name, data);
          if (name === "message.new") { notify(data); }
        });
      });
    }

    // a list page: re-read the table and swap it in (debounced), so new activity comes first
    if (cfg.refresh === "list") {
      var pending = null;
      var refresh = function () {
        clearTimeout(pending);
        pending = setTimeout(function () {
          fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "relaydesk-live" } })
            .then(function (r) { return r.ok ? r.text() : null; })
            .then(function (html) {
              if (!html) { return; }
              var doc = new DOMParser().parseFromString(html, "text/html");
              // the list (its header, rows and pages; an empty list had no table at all)
              var fresh = doc.querySelector("[data-relaydesk-live-list]");
              var old = document.querySelector("[data-relaydesk-live-list]");
              if (fresh && old) {
                old.replaceWith(document.importNode(fresh, true));
                document.dispatchEvent(new CustomEvent("relaydesk:refreshed"));
              }
            })
            .catch(function () {});
        }, 150);
      };
      ["relaydesk:message", "relaydesk:conversation", "relaydesk:reset"].forEach(function (n) {
        document.addEventListener(n, refresh);
      });
    }

    var typedAt = {};
    function typing(conversationId) {
      var now = Date.now();
      if (!conversationId || (typedAt[conversationId] && now - typedAt[conversationId] < 3000)) { return; }
      typedAt[conversationId] = now;
      var body = new FormData();
      body.append("conversation_id", conversationId);
      fetch(cfg.typingUrl, { method: "POST", body: body, credentials: "same-origin",
                             headers: { "X-CSRFToken": cfg.csrf } }).catch(function () {});
    }
    document.addEventListener("input", function (e) {
      var id = e.target && e.target.getAttribute && e.target.getAttribute("data-relaydesk-typing");
      if (id) { typing(id); }
    });
    window.RelaydeskLive = { typing: typing, me: me };
    // leaving the page: end the stream now rather than when the server next writes to it
    window.addEventListener("pagehide", function () {
      clearTimeout(timer);
      if (source) { source.close(); }
    });
    connect();
  });
})();
