// The sequence editor (templates/nurture/editor.html). Everything works without this
// script: moving, adding and removing are submit buttons the server answers. With it:
// - steps are reordered in the page, with the move buttons (keyboard or mouse; the focus
//   stays on the button pressed and the new place is announced) or by dragging
//   (SortableJS), and their position inputs renumbered;
// - each trigger shows only the input its type uses;
// - after a round trip, the focus goes where the server said (data-focus).
(function () {
  "use strict";

  var FORM_ID = "sequence-form";

  function stepRows(list) {
    return Array.prototype.filter.call(list.children, function (el) {
      return el.matches("[data-step-row]");
    });
  }

  function announce(text) {
    var status = document.getElementById("steps-status");
    if (!status) return;
    status.textContent = "";
    window.setTimeout(function () { status.textContent = text; }, 30);
  }

  function renumber(list) {
    var rows = stepRows(list);
    rows.forEach(function (row, i) {
      var input = row.querySelector("input[name$='-position']");
      if (input) input.value = String(i);
      var number = row.querySelector("[data-step-number]");
      if (number) number.textContent = String(i + 1);
      row.querySelectorAll("[data-move]").forEach(function (button) {
        button.setAttribute("aria-label", "Move step " + (i + 1) + " " + button.getAttribute("data-move"));
      });
      var remove = row.querySelector("[data-testid='remove-step']");
      if (remove) remove.setAttribute("aria-label", "Remove step " + (i + 1));
      var group = row.querySelector("[role='group']");
      if (group) group.setAttribute("aria-label", "Move or remove step " + (i + 1));
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-move]") : null;
    if (!button || !button.closest("#" + FORM_ID)) return;
    var row = button.closest("[data-step-row]");
    var list = row && row.parentElement;
    if (!list) return;
    event.preventDefault();
    var up = button.getAttribute("data-move") === "up";
    var sibling = up ? row.previousElementSibling : row.nextElementSibling;
    if (sibling && sibling.matches("[data-step-row]")) {
      // Move the neighbour when going down, and refocus when going up: a node taken out
      // of the page loses the focus.
      if (up) list.insertBefore(row, sibling);
      else list.insertBefore(sibling, row);
      renumber(list);
    }
    button.focus();
    var rows = stepRows(list);
    announce("Step moved to position " + (rows.indexOf(row) + 1) + " of " + rows.length + ".");
  });

  function setUpSorting() {
    var list = document.getElementById("step-list");
    if (!list || !window.Sortable || !list.closest("#" + FORM_ID) || list.closest("fieldset[disabled]")) return;
    window.Sortable.create(list, {
      handle: ".step-handle",
      draggable: "[data-step-row]",
      animation: 120,
      onEnd: function () { renumber(list); },
    });
  }

  // --- Triggers: one input per type ------------------------------------------------------

  var inputsByType = {};
  function syncTrigger(row) {
    var select = row.querySelector("select[name$='-type']");
    var wanted = select ? inputsByType[select.value] : null;
    row.querySelectorAll("[data-trigger-input]").forEach(function (el) {
      el.hidden = el.getAttribute("data-trigger-input") !== wanted;
    });
  }

  document.addEventListener("change", function (event) {
    if (!event.target.matches || !event.target.matches("select[name$='-type']")) return;
    var row = event.target.closest("[data-trigger-row]");
    if (row) syncTrigger(row);
  });

  // "Too many test emails" comes back as a 429, which htmx would not show by default.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (event.detail.xhr.status === 429 && target && target.id === "preview-panel") {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  function focusAfterRoundTrip(form) {
    var focus = form.getAttribute("data-focus");
    if (!focus) return;
    var target = null;
    var match = /^(step|trigger)-(\d+)$/.exec(focus);
    if (match && match[1] === "step") {
      var row = document.getElementById(focus);
      target = row && row.querySelector("input[name$='-subject']");
    } else if (match) {
      var rows = form.querySelectorAll("[data-trigger-row]");
      var trigger = rows[Number(match[2])];
      target = trigger && trigger.querySelector("select[name$='-type']");
    } else {
      // A button's id, or the first input with an error.
      target = document.getElementById(focus);
    }
    if (target) {
      target.focus();
      if (target.scrollIntoView) target.scrollIntoView({ block: "center" });
    }
  }

  function init() {
    var data = document.getElementById("trigger-inputs");
    if (data) inputsByType = JSON.parse(data.textContent);
    document.querySelectorAll("[data-trigger-row]").forEach(syncTrigger);
    setUpSorting();
    var form = document.getElementById(FORM_ID);
    if (form) focusAfterRoundTrip(form);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
