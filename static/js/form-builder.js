// The form builder (templates/capture/forms/builder.html). Everything works without this
// script: move, add and remove are submit buttons the server answers. With it:
// - rows are reordered by dragging (SortableJS) or with the move buttons, in the page,
//   keeping the keyboard focus on the button pressed and saying where the row went;
// - inputs that do not apply to a field's type are hidden;
// - a new field's name follows its label until the name is edited;
// - the preview beside the editor is redrawn (htmx) whenever something changes;
// - leaving with unsaved changes asks first.
(function () {
  "use strict";

  var FORM_ID = "builder-form";
  var dirty = false;

  function builderForm() {
    return document.getElementById(FORM_ID);
  }

  function changed() {
    dirty = true;
    document.body.dispatchEvent(new CustomEvent("lh:builder-changed", { bubbles: true }));
  }

  function rowsOf(list) {
    return Array.prototype.filter.call(list.children, function (el) {
      return el.matches("[data-field-row]");
    });
  }

  function renumber(list) {
    rowsOf(list).forEach(function (row, i) {
      var input = row.querySelector("input[name$='-position']");
      if (input) input.value = String(i);
    });
  }

  function rowLabel(row) {
    var el = row.querySelector("[data-summary-label]");
    return el ? el.textContent.trim() : "Field";
  }

  function announce(text) {
    var status = document.getElementById("builder-status");
    if (!status) return;
    status.textContent = "";
    // A fresh text node each time, so screen readers read a repeated message again.
    window.setTimeout(function () { status.textContent = text; }, 30);
  }

  function announcePosition(row) {
    var rows = rowsOf(row.parentElement);
    announce(rowLabel(row) + ": position " + (rows.indexOf(row) + 1) + " of " + rows.length + ".");
  }

  // --- Moving rows with the buttons (keyboard or mouse) ----------------------------------

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-move]") : null;
    if (!button || !button.closest("#" + FORM_ID)) return;
    var row = button.closest("[data-field-row]");
    var list = row && row.parentElement;
    if (!list) return;
    event.preventDefault();
    var up = button.getAttribute("data-move") === "up";
    var sibling = up ? row.previousElementSibling : row.nextElementSibling;
    if (sibling && sibling.matches("[data-field-row]")) {
      // Move the neighbour rather than the row when going down, and put the focus back
      // when going up: a node taken out of the page loses the focus.
      if (up) list.insertBefore(row, sibling);
      else list.insertBefore(sibling, row);
      renumber(list);
      changed();
    }
    button.focus();
    announcePosition(row);
  });

  // --- Fields: what applies to each type, names from labels ------------------------------

  function slug(text) {
    var plain = text.normalize ? text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "") : text;
    return plain.toLowerCase().replace(/[^a-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64);
  }

  function syncRow(row) {
    var typeInput = row.querySelector("[name$='-type']");
    var type = typeInput ? typeInput.value : "text";
    row.querySelectorAll("[data-show-for]").forEach(function (el) {
      el.hidden = el.getAttribute("data-show-for").split(" ").indexOf(type) === -1;
    });
    var target = row.querySelector("select[name$='-target']");
    var attribute = row.querySelector("[data-attribute-name]");
    if (target && attribute) attribute.hidden = target.value !== "attribute";
    var label = row.querySelector("input[name$='-label']");
    var name = row.querySelector("input[name$='-name']");
    var summary = row.querySelector("[data-summary-label]");
    var text = (label && label.value.trim()) || (name && name.value.trim()) || "Untitled field";
    if (summary) summary.textContent = text;
    // The buttons say which field they act on (their names were drawn with the old label).
    row.querySelectorAll("[data-move]").forEach(function (button) {
      button.setAttribute("aria-label", "Move " + text + " " + button.getAttribute("data-move"));
    });
    var remove = row.querySelector("[data-testid='remove-field']");
    if (remove) remove.setAttribute("aria-label", "Remove " + text);
    var group = row.querySelector("[role='group']");
    if (group) group.setAttribute("aria-label", "Move or remove " + text);
  }

  document.addEventListener("input", function (event) {
    var form = builderForm();
    if (!form || !form.contains(event.target)) return;
    var row = event.target.closest("[data-field-row]");
    if (row) {
      var name = row.querySelector("input[name$='-name']");
      if (event.target === name) {
        row.removeAttribute("data-fresh"); // chosen by hand: it stays
      } else if (row.hasAttribute("data-fresh") && name && event.target.matches("input[name$='-label']")) {
        name.value = slug(event.target.value);
      }
      syncRow(row);
    }
    changed();
  });

  document.addEventListener("change", function (event) {
    var form = builderForm();
    if (!form || !form.contains(event.target)) return;
    var row = event.target.closest("[data-field-row]");
    if (row) syncRow(row);
    changed();
  });

  // Remember which rows are unfolded, so an add or remove round trip keeps them so.
  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches(".field-details")) return;
    var input = details.closest("[data-field-row]").querySelector("input[name$='-expanded']");
    if (input) input.value = details.open ? "True" : "False";
  }, true);

  // --- New content (the page, and each htmx swap of the field list) ----------------------

  function setUp(root) {
    var lists = [];
    if (root.matches && root.matches("[data-sortable-fields]")) lists.push(root);
    if (root.querySelectorAll) {
      Array.prototype.push.apply(lists, root.querySelectorAll("[data-sortable-fields]"));
      root.querySelectorAll("[data-field-row]").forEach(syncRow);
    }
    lists.forEach(function (list) {
      var form = builderForm();
      if (list.hasAttribute("data-sortable-ready") || !window.Sortable) return;
      if (form && form.querySelector("fieldset[disabled]")) return; // read-only
      list.setAttribute("data-sortable-ready", "");
      window.Sortable.create(list, {
        handle: ".drag-handle",
        draggable: "[data-field-row]",
        animation: 150,
        ghostClass: "sortable-ghost",
        onEnd: function (event) {
          if (event.oldIndex === event.newIndex) return;
          renumber(list);
          changed();
          announcePosition(event.item);
        },
      });
    });
  }

  // After a refused save, take the keyboard to the first input that needs fixing.
  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[data-testid='builder-errors']")) return;
    var first = document.querySelector("#" + FORM_ID + " .is-invalid");
    if (first) {
      first.focus();
      first.scrollIntoView({ block: "center" });
    }
  });

  if (window.htmx) {
    window.htmx.onLoad(setUp);
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target && event.detail.target.id === "field-editor") changed();
    });
  } else {
    document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  }

  // --- Leaving with unsaved changes ------------------------------------------------------

  document.addEventListener("submit", function (event) {
    if (event.target.id === FORM_ID) dirty = false;
  });
  window.addEventListener("beforeunload", function (event) {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });
})();
