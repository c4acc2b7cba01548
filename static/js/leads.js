// Small enhancements for the leads pages. Everything works without this script.
(function () {
  "use strict";

  // A <select data-autosubmit> applies its form as soon as it changes.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) {
      el.form.requestSubmit ? el.form.requestSubmit() : el.form.submit();
    }
  });

  // Filter drop-downs (<details class="filter-menu">) close on a click elsewhere or Escape,
  // like any other menu.
  function closeMenus(except) {
    document.querySelectorAll("details.filter-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest ? event.target.closest("details.filter-menu") : null);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var open = document.activeElement && document.activeElement.closest
      ? document.activeElement.closest("details.filter-menu[open]") : null;
    closeMenus(null);
    if (open) open.querySelector("summary").focus();
  });
})();
