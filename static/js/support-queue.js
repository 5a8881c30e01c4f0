// Agent queue: re-fetch the queue (keeping filters, page and the selected ticket) when a ticket
// changes anywhere in the workspace ("ticket.changed" over the workspace websocket, see
// static/js/live.js), after a reconnect ("cep:resync"), and after this agent's own
// claim/assign/resolve ("support:changed"). The open ticket's panel is refreshed too when that
// ticket is the one that changed.
(function () {
  "use strict";
  var timer = null;
  function selectedId() {
    var detail = document.querySelector("#ticket-detail [data-ticket]");
    return detail ? detail.getAttribute("data-ticket") : "";
  }
  function refresh() {
    var queue = document.getElementById("ticket-queue");
    if (!queue || !window.htmx) return;
    var query = queue.dataset.query || "";
    var params = (query ? query + "&" : "") + "page=" + encodeURIComponent(queue.dataset.page || "1");
    var selected = selectedId();
    if (selected) params += "&ticket=" + encodeURIComponent(selected);
    window.htmx.ajax("GET", location.pathname + "?" + params, { target: "#ticket-queue", swap: "outerHTML" });
  }
  function soon() {
    // Several changes in a burst (a playbook opening many tickets) cost one re-fetch.
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  }
  function markSelected() {
    var selected = selectedId();
    document.querySelectorAll("#ticket-queue tr[data-ticket]").forEach(function (row) {
      if (row.getAttribute("data-ticket") === selected) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    });
  }
  document.addEventListener("cep:message", function (event) {
    var data = event.detail || {};
    if (data.type !== "ticket.changed") return;
    soon();
    var selected = selectedId();
    if (selected && data.id === selected && window.htmx) {
      window.htmx.ajax("GET", "/support/tickets/" + selected + "/", { target: "#ticket-detail", swap: "outerHTML" });
    }
  });
  document.addEventListener("cep:resync", soon);
  document.body.addEventListener("support:changed", soon);
  document.body.addEventListener("htmx:afterSettle", markSelected);
})();
