// Charts of the insights page, drawn from the numbers in #insights-data (the same numbers as
// the tables beside them). Each chart is drawn only when its canvas is on the page.
(function () {
  "use strict";
  const source = document.getElementById("insights-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const palette = ["#1e88e5", "#43a047", "#fb8c00", "#8e24aa", "#e53935", "#00897b", "#6d4c41", "#3949ab", "#c0ca33"];
  const grey = "#90a4ae";
  const common = { animation: false, maintainAspectRatio: false };

  function draw(id, config) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    const chart = new Chart(canvas, Object.assign({}, config, { options: Object.assign({}, common, config.options || {}) }));
    canvas.dataset.drawn = "true";
    return chart;
  }

  // Lift: the interval as a floating bar, the estimate as a point; zero is the reference line.
  const lift = data.lift.filter((row) => row.measured);
  draw("lift-chart", {
    data: {
      labels: lift.map((row) => row.key),
      datasets: [
        { type: "bar", label: "95 % interval (points)", data: lift.map((row) => [row.low * 100, row.high * 100]),
          backgroundColor: lift.map((row) => (row.low > 0 ? "rgba(67,160,71,.35)" : row.high < 0 ? "rgba(229,57,53,.35)" : "rgba(144,164,174,.35)")),
          borderColor: lift.map((row) => (row.low > 0 ? "#43a047" : row.high < 0 ? "#e53935" : grey)), borderWidth: 1, barPercentage: 0.5 },
        { type: "line", label: "Lift (points)", data: lift.map((row) => row.lift * 100), showLine: false,
          pointRadius: 6, pointBackgroundColor: "#263238", borderColor: "#263238" },
      ],
    },
    options: { indexAxis: "x", scales: { y: { title: { display: true, text: "conversion lift, points" } } } },
  });

  const alloc = data.allocation;
  draw("allocation-chart", {
    type: "bar",
    data: {
      labels: alloc.times.map((t) => {
        const d = new Date(t);
        return alloc.bucket === "day" ? d.toISOString().slice(0, 10) : d.toISOString().slice(alloc.bucket === "hour" ? 5 : 11, 16).replace("T", " ");
      }),
      datasets: Object.keys(alloc.series).map((key, i) => ({
        label: key, data: alloc.series[key], backgroundColor: key === "nothing" ? grey : palette[i % palette.length],
      })),
    },
    options: { scales: { x: { stacked: true, title: { display: true, text: alloc.bucket + " (UTC)" } },
                         y: { stacked: true, title: { display: true, text: "decisions" } } } },
  });

  draw("funnel-chart", {
    type: "bar",
    data: { labels: data.funnel.map((s) => s.name),
            datasets: [{ label: "people", data: data.funnel.map((s) => s.people), backgroundColor: palette[0] }] },
    options: { indexAxis: "y", plugins: { legend: { display: false } } },
  });

  const width = data.cohorts.reduce((m, c) => Math.max(m, c.retention.length), 0);
  draw("cohort-chart", {
    type: "line",
    data: {
      labels: Array.from({ length: width }, (_, i) => "week " + i),
      datasets: data.cohorts.map((c, i) => ({ label: c.week, data: c.retention.map((r) => r * 100),
        borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length], tension: 0.2, pointRadius: 5 })),
    },
    options: { scales: { x: { offset: true }, y: { min: 0, max: 100, title: { display: true, text: "% of cohort active" } } } },
  });

  const top = data.rfm.reduce((m, c) => Math.max(m, c.people), 1);
  const rich = data.rfm.reduce((m, c) => Math.max(m, c.monetary), 1);
  draw("rfm-chart", {
    type: "bubble",
    data: { datasets: [{ label: "customers",
      data: data.rfm.map((c) => ({ x: c.recency, y: c.frequency, r: 4 + 18 * Math.sqrt(c.people / top), people: c.people, monetary: c.monetary })),
      backgroundColor: data.rfm.map((c) => `rgba(30,136,229,${0.2 + 0.75 * (c.monetary / rich)})`) }] },
    options: {
      scales: { x: { min: 0.5, max: 5.5, ticks: { stepSize: 1 }, title: { display: true, text: "recency quintile (5 = most recent)" } },
                y: { min: 0.5, max: 5.5, ticks: { stepSize: 1 }, title: { display: true, text: "frequency quintile (5 = most orders)" } } },
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (ctx) => `${ctx.raw.people} people, mean revenue ${ctx.raw.monetary}` } } },
    },
  });

  draw("latency-chart", {
    type: "bar",
    data: { labels: data.latency.labels, datasets: [{ label: "decisions", data: data.latency.counts, backgroundColor: palette[3] }] },
    options: { plugins: { legend: { display: false } }, scales: { y: { title: { display: true, text: "decisions" } } } },
  });
})();
