// Copy buttons: <button data-copy="#element-id" hidden>…</button> copies that element's
// value (a textarea or input) or text. Hidden until this script runs, since they do
// nothing without it; the text stays selectable either way.
(function () {
  "use strict";

  function copied(button) {
    var label = button.querySelector("[data-copy-label]");
    if (!label) return;
    var before = label.textContent;
    label.textContent = "Copied";
    button.classList.add("btn-success");
    window.setTimeout(function () {
      label.textContent = before;
      button.classList.remove("btn-success");
    }, 1600);
  }

  function fallback(source, button) {
    // Browsers without the async clipboard (or off https): select the text and copy it.
    if (source.select) {
      source.focus();
      source.select();
    } else {
      var range = document.createRange();
      range.selectNodeContents(source);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
    }
    try {
      if (document.execCommand("copy")) copied(button);
    } catch (e) {
      // The text is selected: the person can copy it themselves.
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = "value" in source ? source.value : source.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { copied(button); },
                                               function () { fallback(source, button); });
    } else {
      fallback(source, button);
    }
  });

  document.querySelectorAll("[data-copy][hidden]").forEach(function (button) {
    button.hidden = false;
  });
})();
