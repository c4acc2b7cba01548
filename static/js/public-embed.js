/* LeadHub form embed. Served by GET /f/<key>/embed.js, which wraps this file in a
   function scope and calls lhEmbed(config, pow) with the form's fields as JSON (and,
   for proof-of-work forms, lh-pow.js's solver). No dependencies; no globals. Text from
   the server is only ever set with textContent or as a property/attribute value.
   The view strips whole-line comments and indentation before serving: keep code off
   comment lines, and no multi-line strings. */
function lhEmbed(C, Pow) {
  "use strict";
  var doc = document, me = doc.currentScript, count = 0;
  // Drawn in a shadow root, so the host page's CSS cannot reach in (nor ours out). The
  // host element itself is the page's to style, so the font is set inside, not on :host.
  var CSS = ":host{all:initial;display:block}" +
    ".lh-form,.lh-thanks{font:16px/1.5 system-ui,sans-serif;color:#1f2328;text-align:left;max-width:34rem}" +
    ".lh-form *{box-sizing:border-box;margin:0;padding:0;font:inherit;color:inherit}" +
    ".lh-row{margin:0 0 1rem;border:0}.lh-label{display:block;font-weight:600;margin-bottom:.25rem}" +
    ".lh-input{display:block;width:100%;padding:.5rem .75rem;border:1px solid #8c959f;border-radius:6px;background:#fff;min-height:2.5rem}" +
    ".lh-input:focus,.lh-btn:focus,.lh-box:focus{outline:2px solid #0b5ed7;outline-offset:1px}" +
    ".lh-input[aria-invalid=true]{border-color:#b42318}.lh-check{display:flex;gap:.5rem;margin:.25rem 0}" +
    ".lh-box{width:1.1rem;height:1.1rem;margin-top:.2rem;flex:none}.lh-req,.lh-err{color:#b42318}" +
    ".lh-help,.lh-err{font-size:.875rem;margin-top:.25rem}.lh-help{color:#57606a}" +
    ".lh-btn{width:100%;padding:.6rem 1rem;border:0;border-radius:6px;background:#0b5ed7;color:#fff;font-weight:600;cursor:pointer}" +
    ".lh-btn[disabled]{opacity:.65;cursor:progress}.lh-status{margin-top:.75rem}.lh-status:empty{display:none}" +
    ".lh-thanks{white-space:pre-line;padding:1rem;border:1px solid #a6d8b8;border-radius:6px;background:#eefbf3}" +
    ".lh-hp{position:absolute;left:-9999px;width:1px;height:1px;overflow:hidden}[hidden]{display:none!important}";
  var LIST = {multiselect: 1, checkboxes: 1}, TYPE = {email: "email", phone: "tel"};

  function el(tag, cls, text, parent) {
    var e = doc.createElement(tag);
    if (cls) e.className = cls;
    if (text) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function attr(e, name, value) {
    if (value) e.setAttribute(name, value); else e.removeAttribute(name);
  }
  function cookie(name) {
    var m = doc.cookie.match(new RegExp("(?:^|;\\s*)" + name + "=([^;]*)"));
    try { return m ? decodeURIComponent(m[1]) : ""; } catch (e) { return ""; }
  }
  function uuid() {
    return crypto.randomUUID ? crypto.randomUUID() : Array.prototype.map.call(crypto.getRandomValues(new Uint8Array(16)),
      function (x) { return (x + 256).toString(16).slice(1); }).join("");
  }
  function getJSON(url, then, fail) {
    fetch(url, {credentials: "omit"}).then(function (r) { if (!r.ok) throw r; return r.json(); }).then(then, fail || function () {});
  }

  function mount(host) {
    var n = ++count, rows = {}, key = "", sentFill = "", sentBody = "", busy = false, powUsed = false;
    var challenge = C.pow, solution = "", waiters = [], stop, issuedAt = Date.now(), root = host;
    host.setAttribute("data-lh-rendered", "");
    if (host.attachShadow) {
      root = host.attachShadow({mode: "open"});
      el("style", "", CSS, root);
    } else {
      // Old browsers: the lh- prefix keeps our classes apart from the page's.
      el("style", "", CSS.replace(":host", ".lh-embed"), doc.head);
      host.className += " lh-embed";
    }
    var form = el("form", "lh-form", "", root), status = el("div", "lh-status");
    form.noValidate = true;
    attr(status, "role", "status");
    attr(status, "aria-live", "polite");

    C.fields.forEach(function (f) {
      var id = "lh-" + C.key + "-" + n + "-" + f.name, row, label, input, inputs = [];
      if (f.type === "hidden") { rows[f.name] = {f: f, value: f["default"]}; return; }
      if (LIST[f.type]) {
        row = el("fieldset", "lh-row", "", form);
        label = el("legend", "lh-label", f.label, row);
        f.options.forEach(function (opt, i) {
          var line = el("label", "lh-check", "", row);
          input = el("input", "lh-box", "", line);
          input.type = "checkbox"; input.value = opt; input.id = id + "-" + i;
          el("span", "", opt, line);
          inputs.push(input);
        });
      } else {
        row = el("div", "lh-row", "", form);
        if (f.type === "checkbox") {
          label = el("label", "lh-check", "", row);
          input = el("input", "lh-box", "", label);
          input.type = "checkbox";
          label = el("span", "", f.label, label);
        } else {
          label = el("label", "lh-label", f.label, row);
          if (f.type === "textarea") { input = el("textarea", "lh-input", "", row); input.rows = 4; }
          else if (f.options) {
            input = el("select", "lh-input", "", row);
            el("option", "", f.placeholder || "Choose…", input).value = "";
            f.options.forEach(function (opt) { el("option", "", opt, input).value = opt; });
          } else {
            input = el("input", "lh-input", "", row);
            input.type = TYPE[f.type] || "text";
            input.placeholder = f.placeholder;
            if (f.type === "email") input.autocomplete = "email";
          }
          if (f["default"]) input.value = f["default"];
          label.htmlFor = id;
        }
        input.id = id;
        inputs.push(input);
      }
      if (f.required) {
        attr(el("span", "lh-req", " *", label), "aria-hidden", "true");
        inputs.forEach(function (i) { attr(i, "aria-required", "true"); });
      }
      var r = rows[f.name] = {f: f, row: row, inputs: inputs, err: el("div", "lh-err")};
      if (f.help) { r.help = el("div", "lh-help", f.help, row); r.help.id = id + "-help"; }
      r.err.id = id + "-err";
      r.err.hidden = true;
      row.appendChild(r.err);
      describe(r, false);
      if (C.profiling && f.type === "email") input.addEventListener("change", function () {
        var email = input.value.trim();
        if (/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) profile("email=" + encodeURIComponent(email));
      });
    });

    var hp = el("div", "lh-hp", "", form), trap = el("input", "", "", hp);
    attr(hp, "aria-hidden", "true");
    trap.name = "lh_url"; trap.tabIndex = -1; trap.autocomplete = "off";
    var button = el("button", "lh-btn", C.submitLabel, form);
    form.appendChild(status);

    function describe(r, invalid) {
      r.inputs.forEach(function (i) {
        attr(i, "aria-invalid", invalid && "true");
        attr(i, "aria-describedby", [r.help && r.help.id, invalid && r.err.id].filter(Boolean).join(" "));
      });
    }
    function show(names) {
      for (var name in rows) if (rows[name].row) rows[name].row.hidden = !!names && names.indexOf(name) < 0;
    }
    function profile(query) {
      getJSON(C.fieldsUrl + "?" + query, function (j) { show(j.fields); });
    }
    show(C.show);
    if (C.profiling && cookie("lh_vid")) profile("vid=" + encodeURIComponent(cookie("lh_vid")));

    function payload() {
      var data = {_lh_token: C.token, _lh_page: location.href, _lh_ref: doc.referrer, lh_url: trap.value};
      if (cookie("lh_vid")) data._lh_vid = cookie("lh_vid");
      for (var name in rows) {
        var r = rows[name], i = r.inputs;
        if (!r.row) data[name] = r.value;
        else if (r.row.hidden) continue;
        else if (LIST[r.f.type]) data[name] = i.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
        else data[name] = r.f.type === "checkbox" ? (i[0].checked ? "on" : "") : i[0].value;
      }
      return JSON.stringify(data);
    }
    function say(text, alert) {
      status.textContent = text;
      status.className = "lh-status" + (alert ? " lh-err" : "");
    }
    function done() { busy = false; button.disabled = false; }
    function showErrors(errors) {
      var first = null, other = [];
      for (var name in errors) if (!rows[name] || !rows[name].row || rows[name].row.hidden) other = other.concat(errors[name]);
      for (name in rows) {
        var r = rows[name], msgs = errors[name];
        if (!r.row) continue;
        r.err.hidden = !msgs;
        r.err.textContent = msgs ? msgs.join(" ") : "";
        describe(r, !!msgs);
        if (msgs && !first && !r.row.hidden) first = r.inputs[0];
      }
      say(other.length ? other.join(" ") : "Please correct the fields marked below.", true);
      if (first) first.focus();
    }

    // Proof of work: solving starts at once, so it is usually done before the visitor
    // posts. A challenge is good for one post and an hour (capture/spam.py).
    function solve() {
      solution = "";
      if (stop) stop();
      stop = Pow.solve(challenge.challenge, challenge.difficulty, function (counter) {
        solution = challenge.challenge + ":" + counter;
        waiters.splice(0).forEach(function (f) { f(); });
      });
    }
    function withPow(then) {
      var stale = Date.now() - issuedAt > 3e6;
      if (!challenge || (solution && !powUsed && !stale)) return then();
      say("One moment…");
      waiters.push(then);
      if (!powUsed && !stale) return;
      powUsed = false;
      getJSON(C.challengeUrl, function (j) { challenge = j; issuedAt = Date.now(); solve(); }, function () {
        waiters = [];
        say("We could not reach the server. Please try again.", true);
        done();
      });
    }
    if (challenge) solve();

    function send(body, attempt) {
      powUsed = !!challenge;
      fetch(C.endpoint, {
        method: "POST", mode: "cors", credentials: "omit", body: body,
        headers: {"Content-Type": "application/json", "Idempotency-Key": key}
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (j) { answer(r, j, body, attempt); });
      }, function () { retry(body, attempt); });
    }
    function retry(body, attempt) {
      if (attempt >= 4) { say("We could not reach the server. Please check your connection and try again.", true); return done(); }
      say("Connection problem; trying again…");
      // The same body with the same Idempotency-Key: if an earlier try did arrive, the
      // server answers it again rather than storing a second submission.
      setTimeout(function () { send(body, attempt + 1); }, 1000 * Math.pow(2, attempt) * (1 + Math.random() / 2));
    }
    function answer(r, j, body, attempt) {
      var s = r.status;
      if (s >= 500) return retry(body, attempt);
      if (s === 201) {
        if (/^https:\/\//i.test(j.redirect_url || "")) { location.href = j.redirect_url; return; }
        var thanks = el("div", "lh-thanks", j.thank_you_message || C.thanks);
        attr(thanks, "role", "status");
        thanks.tabIndex = -1;
        root.replaceChild(thanks, form);
        return thanks.focus();
      }
      // Refused before the proof of work was looked at: it is still unspent.
      powUsed = false;
      if (s === 400 && j.errors) showErrors(j.errors);
      else if (s === 429) {
        var wait = parseInt(r.headers.get("Retry-After"), 10) || 60;
        say("Too many submissions right now. Please try again in " + wait + " seconds.", true);
        return setTimeout(done, wait * 1000);
      } else say(s === 403 ? "This form cannot be sent from this website." : s === 404 ? "This form is no longer available."
        : "Sorry, the form could not be sent (error " + s + ").", true);
      done();
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (busy) return;
      busy = button.disabled = true;
      say("Sending…");
      var fill = payload();
      // Resending the same values (after a network failure, say) sends the very same
      // request again, Idempotency-Key included; changed values are a new fill.
      if (fill === sentFill) return send(sentBody, 0);
      withPow(function () {
        var data = JSON.parse(fill);
        if (challenge) data._lh_pow = solution;
        sentFill = fill;
        sentBody = JSON.stringify(data);
        key = uuid();
        send(sentBody, 0);
      });
    });
  }

  var hosts = [].filter.call(doc.querySelectorAll("[data-leadhub-form]"), function (e) {
    return e.getAttribute("data-leadhub-form") === C.key && !e.hasAttribute("data-lh-rendered");
  });
  if (!hosts.length && me && me.parentNode) hosts.push(me.parentNode.insertBefore(el("div"), me));
  hosts.forEach(mount);
}
