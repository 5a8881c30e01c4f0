// Calibration plot on the model version page: mean predicted against observed, per bin of the
// held-out rows, with the perfect-calibration diagonal. Data comes from #calibration-data.
(function () {
  "use strict";
  var source = document.getElementById("calibration-data");
  var canvas = document.getElementById("calibration-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  var data = JSON.parse(source.textContent);
  var points = data.model || [];
  var top = 0;
  points.concat(data.baseline || []).forEach(function (p) { top = Math.max(top, p.x, p.y); });
  top = data.kind === "probability" ? Math.min(1, Math.max(0.1, Math.ceil(top * 10 + 0.5) / 10)) : Math.ceil(top + 0.5);
  var datasets = [{
    label: data.kind === "probability" ? "this model" : "predicted vs actual orders",
    data: points, showLine: true, borderColor: "#1e88e5", backgroundColor: "#1e88e5", pointRadius: 4,
  }];
  if (data.baseline && data.baseline.length) {
    datasets.push({ label: "recency only", data: data.baseline, showLine: true, borderColor: "#fb8c00",
      backgroundColor: "#fb8c00", pointRadius: 3, borderDash: [4, 3] });
  }
  datasets.push({ label: "perfect calibration", data: [{ x: 0, y: 0 }, { x: top, y: top }], showLine: true,
    borderColor: "#9e9e9e", pointRadius: 0, borderWidth: 1 });
  var axis = data.kind === "probability" ? ["mean predicted probability", "observed rate"]
    : ["mean predicted orders", "mean actual orders"];
  new Chart(canvas, {
    type: "scatter",
    data: { datasets: datasets },
    options: {
      animation: false, maintainAspectRatio: false,
      scales: {
        x: { min: 0, max: top, title: { display: true, text: axis[0] } },
        y: { min: 0, max: top, title: { display: true, text: axis[1] } },
      },
      plugins: { tooltip: { callbacks: { label: function (ctx) {
        var p = ctx.raw; return ctx.dataset.label + ": " + p.x.toFixed(3) + " → " + p.y.toFixed(3) + (p.n ? " (" + p.n + ")" : "");
      } } } },
    },
  });
})();
