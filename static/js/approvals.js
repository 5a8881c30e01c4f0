// Approvals queue: re-fetch the queue over htmx when the workspace websocket says a proposal
// arrived ("approval.requested") or was decided anywhere ("approval.decided"), and after a
// reconnect ("cep:resync"). The queue element carries its own URL in data-refresh-url.
(function () {
  "use strict";
  var timer = null;
  function refresh() {
    var queue = document.getElementById("approval-queue");
    if (!queue || !window.htmx) return;
    // Do not pull the form out from under someone typing a reason or an edit.
    var active = document.activeElement;
    if (active && queue.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName) && active.value) {
      queue.dataset.stale = "true";
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(function () {
      window.htmx.ajax("GET", queue.dataset.refreshUrl, { target: "#approval-queue", swap: "outerHTML" });
    }, 150);
  }
  document.addEventListener("cep:message", function (event) {
    var type = event.detail && event.detail.type;
    if (type === "approval.requested" || type === "approval.decided") refresh();
  });
  document.addEventListener("cep:resync", refresh);
  document.addEventListener("focusout", function () {
    var queue = document.getElementById("approval-queue");
    if (queue && queue.dataset.stale === "true") { queue.dataset.stale = ""; refresh(); }
  });
})();
