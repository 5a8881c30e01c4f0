// The off-policy evaluation chart: each method's estimate with its 95 % interval, next to the
// live policy's observed reward. Drawn when the results arrive (htmx swap) or on page load.
(function () {
  "use strict";
  let chart = null;

  function draw() {
    const canvas = document.getElementById("ope-chart");
    const source = document.getElementById("ope-data");
    if (!canvas || !source || typeof Chart === "undefined") return;
    const data = JSON.parse(source.textContent);
    if (chart) chart.destroy();
    const live = data.labels.length - 1;
    const colour = (i, alpha) => (i === live ? `rgba(96,125,139,${alpha})` : `rgba(25,118,210,${alpha})`);
    chart = new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          {
            type: "bar",
            label: "95 % interval",
            data: data.intervals,
            backgroundColor: data.labels.map((_, i) => colour(i, 0.25)),
            borderColor: data.labels.map((_, i) => colour(i, 0.9)),
            borderWidth: 1,
            barPercentage: 0.5,
          },
          {
            type: "line",
            label: "Estimate",
            data: data.values,
            showLine: false,
            pointRadius: 6,
            pointStyle: "rectRot",
            backgroundColor: data.labels.map((_, i) => colour(i, 1)),
            borderColor: "#fff",
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { y: { title: { display: true, text: "Reward per decision" } } },
        plugins: {
          legend: { position: "bottom" },
          tooltip: {
            callbacks: {
              label: (ctx) =>
                ctx.dataset.type === "bar"
                  ? `95 % interval ${ctx.raw[0].toFixed(3)} to ${ctx.raw[1].toFixed(3)}`
                  : `estimate ${Number(ctx.raw).toFixed(3)}`,
            },
          },
        },
      },
    });
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSettle", draw);
})();
