/*
 * Proactive CEP in-app widget. A storefront includes it once:
 *
 *   <script src="https://cep.example.com/static/js/inapp-widget.js"
 *           data-write-key="wk_..." data-user-id="ana@example.com"
 *           data-user-hash="<hex HMAC-SHA256 of the user id, computed by the storefront's server>"></script>
 *
 * or calls CEPInApp.start({host, writeKey, userId + userHash | anonymousId}) itself. The user hash
 * is made on the storefront's server with the workspace's in-app identity secret (never put the
 * secret in a page); without it a userId is refused (close code 4403). It opens
 * wss://<host>/ws/inapp/?writeKey=...&userId=...&userHash=..., shows each message in a small box, and reports
 * "In-App Message Shown" / "In-App Message Clicked" back through the tracking API (/v1/track,
 * write key as the Basic-auth username), so receipts flow in like any other event.
 * It reconnects with a growing delay; on reconnect the server re-sends messages not yet shown.
 */
(function () {
  "use strict";

  function uuid() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = (Math.random() * 16) | 0;
      return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
    });
  }

  function Widget(options) {
    this.host = (options.host || window.location.origin).replace(/\/$/, "");
    this.writeKey = options.writeKey;
    this.userId = options.userId || "";
    this.userHash = options.userHash || "";
    this.anonymousId = options.anonymousId || "";
    this.seen = {};
    this.delay = 1000;
    this.socket = null;
    this.stopped = false;
  }

  Widget.prototype.socketUrl = function () {
    var base = this.host.replace(/^http/, "ws");
    var query = "writeKey=" + encodeURIComponent(this.writeKey);
    if (this.userId) query += "&userId=" + encodeURIComponent(this.userId) + "&userHash=" + encodeURIComponent(this.userHash);
    if (this.anonymousId) query += "&anonymousId=" + encodeURIComponent(this.anonymousId);
    return base + "/ws/inapp/?" + query;
  };

  Widget.prototype.connect = function () {
    var self = this;
    if (self.stopped) return;
    var socket = new WebSocket(self.socketUrl());
    self.socket = socket;
    var opened = false;
    socket.onopen = function () { opened = true; self.delay = 1000; self.refusals = 0; };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message && message.type === "inapp.message") self.show(message);
    };
    socket.onclose = function (event) {
      // Close codes 4401 (unknown write key), 4403 (the userHash does not prove the userId) and
      // 4404 (person not known yet) reach clients that see the handshake answer; a browser sees
      // a refused handshake only as 1006 without ever opening. Either way retrying soon cannot
      // help, so refusals back off up to 5 minutes instead of hammering the server.
      if (self.stopped || event.code === 4401 || event.code === 4403) {
        if (event.code === 4403 && window.console) window.console.warn("CEPInApp: userHash refused for this userId");
        return;
      }
      var wait;
      if (!opened || event.code === 4404) {
        self.refusals = (self.refusals || 0) + 1;
        if (self.refusals === 1 && window.console) {
          window.console.warn("CEPInApp: connection refused (write key, userId/userHash or unknown person?)");
        }
        wait = Math.min(60000 * self.refusals, 300000);
      } else {
        wait = self.delay;
        self.delay = Math.min(self.delay * 2, 30000);
      }
      window.setTimeout(function () { self.connect(); }, wait);
    };
  };

  Widget.prototype.track = function (name, message) {
    var body = {
      event: name,
      messageId: uuid(),
      timestamp: new Date().toISOString(),
      properties: { delivery_id: message.id, decision_id: message.decision_id || null }
    };
    if (this.userId) body.userId = this.userId; else body.anonymousId = this.anonymousId;
    return fetch(this.host + "/v1/track", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Basic " + btoa(this.writeKey + ":") },
      body: JSON.stringify(body),
      keepalive: true
    }).catch(function () { /* a lost receipt is not worth bothering the shopper */ });
  };

  Widget.prototype.container = function () {
    var box = document.getElementById("cep-inapp");
    if (box) return box;
    box = document.createElement("div");
    box.id = "cep-inapp";
    box.setAttribute("role", "status");
    box.setAttribute("aria-live", "polite");
    box.style.cssText = "position:fixed;right:1rem;bottom:1rem;max-width:22rem;z-index:2147483000;" +
      "font:14px/1.4 system-ui,sans-serif;display:flex;flex-direction:column;gap:.5rem";
    document.body.appendChild(box);
    return box;
  };

  Widget.prototype.show = function (message) {
    if (this.seen[message.id]) return;
    this.seen[message.id] = true;
    var self = this;
    var card = document.createElement("div");
    card.className = "cep-inapp-message";
    card.setAttribute("data-delivery", message.id);
    card.style.cssText = "background:#fff;color:#1b1b1b;border-radius:.5rem;padding:.75rem 1rem;" +
      "box-shadow:0 4px 16px rgba(0,0,0,.18);border-left:4px solid #1c6cd8";
    var close = document.createElement("button");
    close.type = "button";
    close.setAttribute("aria-label", "Close");
    close.textContent = "×";
    close.style.cssText = "float:right;border:0;background:none;font-size:1.2rem;cursor:pointer;color:#555";
    close.onclick = function () { card.remove(); };
    card.appendChild(close);
    if (message.subject) {
      var title = document.createElement("strong");
      title.textContent = message.subject;  // textContent: content is never parsed as HTML
      card.appendChild(title);
    }
    var body = document.createElement("p");
    body.style.margin = ".25rem 0";
    body.textContent = message.body;
    card.appendChild(body);
    if (message.link_url) {
      var link = document.createElement("a");
      link.href = message.link_url;
      link.textContent = message.link_label || "Open";
      link.className = "cep-inapp-link";
      link.style.cssText = "display:inline-block;margin-top:.25rem;color:#1c6cd8;font-weight:600";
      link.onclick = function () { self.track("In-App Message Clicked", message); };
      card.appendChild(link);
    }
    this.container().appendChild(card);
    this.track("In-App Message Shown", message);
  };

  Widget.prototype.stop = function () {
    this.stopped = true;
    if (this.socket) this.socket.close();
  };

  var api = {
    start: function (options) {
      if (!options || !options.writeKey || !(options.userId || options.anonymousId)) {
        throw new Error("CEPInApp.start needs writeKey and userId (with userHash) or anonymousId");
      }
      if (options.userId && !options.userHash) {
        throw new Error("CEPInApp.start: a userId needs its userHash, computed by your server");
      }
      var widget = new Widget(options);
      widget.connect();
      return widget;
    }
  };
  window.CEPInApp = api;

  var script = document.currentScript;
  if (script && script.getAttribute("data-write-key")) {
    var start = function () {
      api.start({
        host: script.getAttribute("data-host") || new URL(script.src).origin,
        writeKey: script.getAttribute("data-write-key"),
        userId: script.getAttribute("data-user-id") || "",
        userHash: script.getAttribute("data-user-hash") || "",
        anonymousId: script.getAttribute("data-anonymous-id") || ""
      });
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})();
