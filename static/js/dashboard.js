// The funnel dashboard: the weekly trend chart (from the data the page passes with
// json_script; the table under it holds the same figures), and the custom date fields,
// shown only while the period is "Custom". Without JavaScript both date fields stay
// visible and the form still works.
(function () {
  "use strict";

  function drawTrend() {
    var canvas = document.getElementById("trend-chart");
    var source = document.getElementById("trend-data");
    if (!canvas || !source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "New leads", data: data.leads, borderColor: "#6c757d", backgroundColor: "#6c757d", tension: 0.2 },
          { label: "Into MQL", data: data.mqls, borderColor: "#0dcaf0", backgroundColor: "#0dcaf0", tension: 0.2 },
          { label: "Into SQL", data: data.sqls, borderColor: "#0d6efd", backgroundColor: "#0d6efd", tension: 0.2 }
        ]
      },
      options: {
        responsive: true,
        aspectRatio: 3.5,
        interaction: { mode: "index", intersect: false },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  function customRange() {
    var select = document.querySelector("[data-period-select]");
    if (!select) return;
    var fields = document.querySelectorAll("[data-custom-range]");
    function sync() {
      var custom = select.value === "custom";
      fields.forEach(function (field) { field.hidden = !custom; });
    }
    select.addEventListener("change", sync);
    sync();
  }

  function start() {
    customRange();
    drawTrend();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
