/* LeadHub's own form pages (hosted form, landing pages). Without JavaScript the form
   still posts; with it:
   - after a failed post, the first field to correct has the focus;
   - the submit button is disabled while the post is on its way (no double posts);
   - on proof-of-work forms the challenge (from json_script, see form.html) is solved in
     the background as soon as the page loads, and the post waits for it if needed;
   - with progressive profiling (data-lh-fields), an email typed that is a known lead's
     shows the fields that lead has not answered yet, as the embed does: the page asks
     /f/<key>/fields/?email=… (names only, never values) and shows those fields,
     hiding and disabling the others (a disabled input posts nothing); a field the
     visitor has already filled in stays. */
(function () {
  "use strict";
  var POW_FRESH_MS = 50 * 60 * 1000;  // a challenge is good for an hour (capture/spam.py)

  function setup(form) {
    var button = form.querySelector("button[type=submit]");
    var status = form.querySelector(".lh-form-status");
    var powId = form.getAttribute("data-lh-pow");
    var pow = null, solution = "", waiting = false, loadedAt = Date.now();

    // Back with errors from the server: start at the first field to correct.
    var invalid = form.querySelector("[aria-invalid=true]");
    if (invalid) invalid.focus();

    function say(text) { if (status) status.textContent = text; }
    function send() {
      var input = form.querySelector("input[name=_lh_pow]");
      if (input) input.value = solution;
      form.submit();  // does not fire "submit" again
    }
    function solve() {
      solution = "";
      window.LeadHubPow.solve(pow.challenge, pow.difficulty, function (counter) {
        solution = pow.challenge + ":" + counter;
        if (waiting) send();
      });
    }
    var fieldsUrl = form.getAttribute("data-lh-fields"), email = form.querySelector("[data-lh-email]");
    function filled(row) {
      var inputs = row.querySelectorAll("input, select, textarea");
      for (var k = 0; k < inputs.length; k++) {
        var c = inputs[k];
        if (c.type === "checkbox" ? c.checked !== c.defaultChecked
          : c.tagName === "SELECT" ? c.selectedIndex > 0 && !c.options[c.selectedIndex].defaultSelected
          : c.value !== c.defaultValue) return true;
      }
      return false;
    }
    function show(names) {
      var rows = form.querySelectorAll("[data-lh-field]");
      for (var k = 0; k < rows.length; k++) {
        var row = rows[k], hide = names.indexOf(row.getAttribute("data-lh-field")) < 0;
        if (hide && (row.hidden || filled(row))) continue;
        row.hidden = hide;
        var controls = row.querySelectorAll("fieldset, input, select, textarea");
        for (var m = 0; m < controls.length; m++) controls[m].disabled = hide;
      }
    }
    if (fieldsUrl && email) email.addEventListener("change", function () {
      var typed = email.value.trim();
      if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(typed)) return;
      fetch(fieldsUrl + "?email=" + encodeURIComponent(typed), {credentials: "same-origin"})
        .then(function (r) { if (!r.ok) throw r; return r.json(); })
        .then(function (j) { if (j && j.fields) show(j.fields); }, function () { /* the form works as drawn */ });
    });

    if (powId && window.LeadHubPow) {
      var data = document.getElementById(powId);
      pow = data ? JSON.parse(data.textContent) : null;
      if (pow) solve();
    }

    form.addEventListener("submit", function (event) {
      if (button && button.disabled) { event.preventDefault(); return; }
      if (button) button.disabled = true;
      if (!pow) return;
      event.preventDefault();
      waiting = true;
      if (Date.now() - loadedAt > POW_FRESH_MS) {
        say("One moment…");
        fetch(pow.url, {credentials: "omit"}).then(function (r) { return r.json(); }).then(function (j) {
          pow = {challenge: j.challenge, difficulty: j.difficulty, url: pow.url};
          loadedAt = Date.now();
          solve();
        }, function () { say("Could not reach the server. Please try again."); button.disabled = false; });
      } else if (solution) {
        send();
      } else {
        say("One moment…");
      }
    });
  }

  var forms = document.querySelectorAll("form.lh-form");
  for (var i = 0; i < forms.length; i++) setup(forms[i]);
  // Back to a page from the browser's cache: its button must work again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    for (var j = 0; j < forms.length; j++) {
      var button = forms[j].querySelector("button[type=submit]");
      if (button) button.disabled = false;
    }
  });
})();
