// The rule effectiveness chart: SQL rates with and without each rule, from the data the
// page passes with json_script. The table beside it holds the same figures.
(function () {
  "use strict";

  function draw() {
    var canvas = document.getElementById("effectiveness-chart");
    var source = document.getElementById("effectiveness-data");
    if (!canvas || !source || typeof window.Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "SQL rate, fired for (%)", data: data.sql_fired, backgroundColor: "#0d6efd" },
          { label: "SQL rate, not fired for (%)", data: data.sql_not_fired, backgroundColor: "#adb5bd" },
          { label: "Customer rate, fired for (%)", data: data.customer_fired, backgroundColor: "#198754" }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        scales: { y: { beginAtZero: true, title: { display: true, text: "%" } } },
        plugins: { legend: { position: "bottom" } }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
