// The rule editor's conditions: offer only the operators the typed field takes, and hint
// at the value each operator wants. The server checks everything again; the editor works
// without this script.
(function () {
  "use strict";

  var HINTS = {
    in: "a, b, c", contains_any: "a, b, c", domain_in: "gmail.com, example.com",
    domain_in_list: "freemail", is_empty: "true or false",
    gt: "a number", gte: "a number", lt: "a number", lte: "a number"
  };
  var opsByField = null;

  function load() {
    var source = document.getElementById("condition-ops");
    opsByField = source ? JSON.parse(source.textContent) : {};
  }

  function opsFor(name) {
    if (Object.prototype.hasOwnProperty.call(opsByField, name)) return opsByField[name];
    for (var key in opsByField) {
      var at = key.indexOf("<");
      if (at > 0 && name.length > at && name.slice(0, at) === key.slice(0, at)) {
        return opsByField[key];
      }
    }
    return null;  // unknown field: the server will say so
  }

  function hint(row) {
    var op = row.querySelector("[data-testid=condition-op]");
    var value = row.querySelector("[data-testid=condition-value]");
    if (op && value) value.placeholder = HINTS[op.value] || "";
  }

  function update(row) {
    var field = row.querySelector("[data-testid=condition-field]");
    var op = row.querySelector("[data-testid=condition-op]");
    if (!field || !op) return;
    var allowed = opsFor(field.value.trim());
    Array.prototype.forEach.call(op.options, function (option) {
      option.disabled = allowed !== null && allowed.indexOf(option.value) === -1;
    });
    if (op.selectedOptions.length && op.selectedOptions[0].disabled) {
      var first = Array.prototype.find.call(op.options, function (o) { return !o.disabled; });
      if (first) op.value = first.value;
    }
    hint(row);
  }

  function updateAll() {
    if (opsByField === null) load();
    document.querySelectorAll("[data-testid=condition-row]").forEach(update);
  }

  document.addEventListener("input", function (event) {
    var row = event.target.closest && event.target.closest("[data-testid=condition-row]");
    if (row && opsByField !== null) update(row);
  });
  document.addEventListener("change", function (event) {
    var row = event.target.closest && event.target.closest("[data-testid=condition-row]");
    if (row && opsByField !== null) update(row);
  });
  document.addEventListener("htmx:afterSettle", updateAll);

  // A preview or test shown for values since changed says so (they are not redone on
  // every keystroke: each runs over every lead's activities).
  function markStale(event) {
    if (!event.target.closest || !event.target.closest("#rule-form")) return;
    var shown = {
      "impact": "[data-testid=impact-result], [data-testid=impact-problems]",
      "test-result": "[data-testid=test-outcome], [data-testid=test-problems]"
    };
    Object.keys(shown).forEach(function (id) {
      var box = document.getElementById(id);
      if (!box || !box.querySelector(shown[id]) || box.querySelector("[data-stale]")) return;
      var note = document.createElement("p");
      note.className = "small text-warning-emphasis mb-2";
      note.setAttribute("data-stale", "");
      note.textContent = "The rule changed since: run it again to see the new figures.";
      box.insertBefore(note, box.firstChild);
    });
  }
  document.addEventListener("input", markStale);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", updateAll);
  } else {
    updateAll();
  }
})();
