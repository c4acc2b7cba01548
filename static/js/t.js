/* LeadHub tracking snippet, served at /t.js. Paste on every page of a website:
 *   <script src="https://leadhub.example.com/t.js" data-site="SITE_KEY" async></script>
 * Options (attributes on the tag): data-respect-dnt — send nothing when the browser
 * asks not to be tracked (Do Not Track or Global Privacy Control).
 *
 * Posts each page view (on load and on single-page-app navigation) to LeadHub's
 * /api/v1/events/. The visitor id LeadHub issues with the first answer is kept in a
 * first-party cookie, lh_vid, on this website's own domain; LeadHub's form embed sends it
 * with a submission, and so does a plain HTML form posting to LeadHub (/f/<key>/): the
 * snippet adds a hidden _lh_vid field as the form is submitted. That lets LeadHub attach
 * the earlier page views to the new lead.
 * No dependencies; sends text/plain JSON (a "simple" cross-site request: no preflight). */
(function () {
  "use strict";
  var tag = document.currentScript;
  if (!tag || !tag.src || window.__leadhubTracking) return;
  var site = tag.getAttribute("data-site");
  if (!site) return;
  var nav = navigator;
  if (tag.hasAttribute("data-respect-dnt") && (
    nav.doNotTrack === "1" || nav.doNotTrack === "yes" || window.doNotTrack === "1" ||
    nav.msDoNotTrack === "1" || nav.globalPrivacyControl === true)) return;
  window.__leadhubTracking = true;

  var endpoint = tag.src.replace(/^(https?:\/\/[^\/]+).*$/, "$1") + "/api/v1/events/";
  var COOKIE = "lh_vid";
  var YEAR = 365 * 24 * 3600;
  var lastUrl = null;
  var waiting = null; // the first request, while no visitor id is known yet

  function readVisitor() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var eq = parts[i].indexOf("=");
      if (parts[i].slice(0, eq) === COOKIE) {
        try { return decodeURIComponent(parts[i].slice(eq + 1)); } catch (e) { return ""; }
      }
    }
    return "";
  }

  function keepVisitor(value) {
    if (!value || value === readVisitor()) return;
    document.cookie = COOKIE + "=" + encodeURIComponent(value) + "; path=/; max-age=" + YEAR +
      "; SameSite=Lax" + (location.protocol === "https:" ? "; Secure" : "");
  }

  function post(body) {
    var visitor = readVisitor();
    if (visitor) body.visitor = visitor;
    var payload = JSON.stringify(body);
    if (window.fetch) {
      return fetch(endpoint, {
        method: "POST", body: payload, keepalive: true, credentials: "omit", mode: "cors",
        headers: { "Content-Type": "text/plain;charset=UTF-8" }
      }).then(function (response) {
        return response.ok ? response.json() : null;
      }).then(function (data) {
        if (data && data.visitor) keepVisitor(data.visitor);
      })["catch"](function () { /* tracking never breaks the page */ });
    }
    if (nav.sendBeacon) nav.sendBeacon(endpoint, payload); // no answer: no visitor id yet
    return null;
  }

  function pageView() {
    var url = location.href;
    if (url === lastUrl) return; // replaceState to the same address, a repeated event
    var body = {
      site: site, type: "page_viewed", url: url, title: document.title,
      referrer: lastUrl || document.referrer
    };
    lastUrl = url;
    if (readVisitor()) { post(body); return; }
    // Until the first answer gives this browser its id, later views wait for it, so one
    // visitor is not issued several ids by quick navigation.
    waiting = waiting ? waiting.then(function () { return post(body); }) : post(body);
  }

  function later() { setTimeout(pageView, 0); } // after the app has set the new title

  // Plain HTML forms that post to LeadHub carry the visitor id, as the embed does.
  var origin = endpoint.replace(/\/api\/v1\/events\/$/, "");
  document.addEventListener("submit", function (event) {
    var form = event.target, visitor = readVisitor();
    var action = form && form.getAttribute && form.action;
    if (!visitor || typeof action !== "string" || action.indexOf(origin + "/f/") !== 0) return;
    var input = form.querySelector("input[name='_lh_vid']");
    if (!input) {
      input = document.createElement("input");
      input.type = "hidden";
      input.name = "_lh_vid";
      form.appendChild(input);
    }
    input.value = visitor;
  }, true);

  var history = window.history;
  if (history && history.pushState) {
    var push = history.pushState;
    history.pushState = function () {
      var result = push.apply(this, arguments);
      later();
      return result;
    };
    window.addEventListener("popstate", later);
  }
  pageView();
})();
