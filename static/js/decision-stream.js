// Live decision stream (the live page and the dashboard feed). live.js dispatches every
// websocket message as "cep:message"; for each "decision.made" that passes the filters the id is
// queued and the server renders the rows in batches (one request per ~half second, however many
// decisions arrive), so the row looks exactly like the server-rendered ones. Pause keeps a
// buffer on the client and Resume shows what arrived in between.
(function () {
  "use strict";
  var BATCH = 50;

  function start(root) {
    if (root.dataset.streamReady) return;
    root.dataset.streamReady = "1";
    var rowsUrl = root.dataset.rowsUrl;
    var maxRows = parseInt(root.dataset.maxRows || "200", 10);
    var compact = root.dataset.compact === "1";
    var filters = root.dataset.filters ? document.getElementById(root.dataset.filters) : null;
    var toggle = root.querySelector("[data-stream-toggle]");
    var status = root.querySelector("[data-stream-status]");
    var queue = [];
    var buffered = [];
    var paused = false;
    var timer = null;
    var inFlight = false;

    function body() { return root.querySelector("tbody"); }

    function filterValue(name) {
      if (!filters) return "";
      var field = filters.elements.namedItem(name);
      return field ? field.value : "";
    }

    function matches(message) {
      var action = filterValue("action");
      if (action === "nothing" && message.action) return false;
      if (action && action !== "nothing" && message.action !== action) return false;
      var channel = filterValue("channel");
      if (channel && message.channel !== channel) return false;
      var wanted = filterValue("status");
      if (wanted && message.status !== wanted) return false;
      return true;
    }

    function say(text) { if (status) status.textContent = text; }

    function count(message) {
      var keys = ["total"];
      if (message.status === "acted" || message.status === "approved") keys.push("acted");
      if (message.status === "nothing") keys.push("nothing");
      if (message.status === "held_out") keys.push("held_out");
      if (message.status === "pending_approval") keys.push("waiting");
      keys.forEach(function (key) {
        var element = root.querySelector('[data-count="' + key + '"]');
        if (element) element.textContent = String(parseInt(element.textContent || "0", 10) + 1);
      });
    }

    function schedule() {
      if (timer === null && !paused) timer = setTimeout(flush, 500);
    }

    function flush() {
      timer = null;
      if (inFlight || paused || queue.length === 0) return;
      var ids = queue.splice(0, BATCH);
      inFlight = true;
      fetch(rowsUrl + "?ids=" + encodeURIComponent(ids.join(",")) + (compact ? "&compact=1" : ""), {
        credentials: "same-origin",
        headers: { "HX-Request": "true" },
      })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          var target = body();
          if (!target || !html.trim()) return;
          var empty = target.querySelector(".stream-empty");
          if (empty) empty.remove();
          target.insertAdjacentHTML("afterbegin", html);
          while (target.rows.length > maxRows) target.deleteRow(target.rows.length - 1);
          var added = ids.length;
          say(added + (added === 1 ? " new decision" : " new decisions") + " just now.");
        })
        .catch(function () { queue = ids.concat(queue); })
        .then(function () {
          inFlight = false;
          if (queue.length) schedule();
        });
    }

    document.addEventListener("cep:message", function (event) {
      var message = event.detail || {};
      if (message.type !== "decision.made" || !message.id) return;
      count(message);
      if (!matches(message)) return;
      if (paused) {
        buffered.push(message.id);
        if (buffered.length > maxRows) buffered = buffered.slice(-maxRows);
        say("Paused: " + buffered.length + " new " + (buffered.length === 1 ? "decision" : "decisions") + " waiting.");
        return;
      }
      queue.push(message.id);
      schedule();
    });

    // After a reconnect, decisions may have been missed: reload the rows over HTTP.
    document.addEventListener("cep:resync", function () {
      if (filters && window.htmx) window.htmx.trigger(filters, "submit");
    });

    if (toggle) {
      toggle.hidden = false;
      toggle.addEventListener("click", function () {
        paused = !paused;
        toggle.setAttribute("aria-pressed", paused ? "true" : "false");
        toggle.textContent = paused ? "Resume" : "Pause";
        if (paused) {
          say("Paused: new decisions wait until you resume.");
        } else {
          queue = queue.concat(buffered);
          buffered = [];
          say("Resumed.");
          schedule();
        }
      });
    }
  }

  function startAll() {
    document.querySelectorAll("[data-decision-stream]").forEach(start);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", startAll);
  else startAll();
  // The dashboard loads its feed over htmx after the page.
  document.addEventListener("htmx:afterSettle", startAll);
})();
