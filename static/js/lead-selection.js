// The leads list's selection (for "Add to sequence…"). Works without this script: the
// header box then means "every lead on this page" to the server, whatever the rows say.
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("input[data-select-lead]"));
  }

  function update() {
    var boxes = rows();
    var ticked = boxes.filter(function (box) { return box.checked; }).length;
    var all = document.querySelector("input[data-select-page]");
    if (all) {
      all.checked = boxes.length > 0 && ticked === boxes.length;
      all.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    document.querySelectorAll("[data-selected-count]").forEach(function (el) {
      el.textContent = String(ticked);
    });
    var selected = document.querySelector("input[name=scope][value=selected]");
    if (selected && ticked > 0) selected.checked = true;
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (!el.matches) return;
    if (el.matches("input[data-select-page]")) {
      rows().forEach(function (box) { box.checked = el.checked; });
      update();
    } else if (el.matches("input[data-select-lead]")) {
      update();
    }
  });

  document.addEventListener("DOMContentLoaded", update);
  if (document.readyState !== "loading") update();
})();
