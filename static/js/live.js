// Workspace websocket: one connection per page, reconnecting with backoff. Pages listen for
// "cep:message" events on document; after a reconnect they get "cep:resync" and re-fetch over HTTP.
(function () {
  "use strict";
  var indicator = document.getElementById("live-indicator");
  if (!indicator) return;
  var delay = 1000;
  var connectedOnce = false;
  function setState(state) {
    indicator.dataset.state = state;
    indicator.textContent = state === "live" ? "live" : "offline";
  }
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + "/ws/workspace/");
    socket.onopen = function () {
      setState("live");
      delay = 1000;
      if (connectedOnce) document.dispatchEvent(new CustomEvent("cep:resync"));
      connectedOnce = true;
    };
    socket.onmessage = function (event) {
      var data;
      try { data = JSON.parse(event.data); } catch (e) { return; }
      document.dispatchEvent(new CustomEvent("cep:message", { detail: data }));
    };
    socket.onclose = function (event) {
      setState("offline");
      if (event.code === 4401 || event.code === 4403) return;  // not signed in: do not hammer
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
