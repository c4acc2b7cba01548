// The pipeline board: drag cards between columns (SortableJS), move them from a dialog
// opened by a card's Move button or the M key, and poll for new MQLs assigned to me.
// Moves always go through the server (pipeline.services); a refused move snaps back.
(function () {
  "use strict";

  var board = document.querySelector("[data-testid=board]");
  var configEl = document.getElementById("board-config");
  if (!board || !configEl) return;
  var config = JSON.parse(configEl.textContent);
  var canMove = board.dataset.canMove === "1";
  var status = document.getElementById("board-status");
  var dialog = document.getElementById("move-dialog");
  var POLL_MS = 20000;

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function say(message, kind) {
    status.textContent = message;
    status.className = "board-status alert py-1 px-2 small alert-" + (kind || "info");
  }

  function needsReason(from, to) {
    if (config.reasonRequiredTo.indexOf(to) !== -1) return true;
    return config.reasonRequired.some(function (pair) { return pair[0] === from && pair[1] === to; });
  }

  function reasonKind(to) {
    return to === "disqualified" ? "disqualify" : "reject";
  }

  function listFor(stage) {
    return document.querySelector(".board-list[data-stage='" + stage + "']");
  }

  function updateTotals(totals) {
    if (!totals) return;
    Object.keys(totals).forEach(function (stage) {
      var column = document.querySelector("[data-testid='column-" + stage + "']");
      if (!column) return;
      var count = column.querySelector("[data-count]");
      var total = column.querySelector("[data-total]");
      if (count) count.textContent = totals[stage].count.toLocaleString("en-US");
      if (total) total.textContent = totals[stage].deal_total_display;
    });
  }

  function cardFromHtml(html) {
    var holder = document.createElement("div");
    holder.innerHTML = html.trim();
    return holder.querySelector(".board-card");
  }

  function removeEmptyNote(list) {
    var empty = list && list.querySelector(".board-empty");
    if (empty) empty.remove();
  }

  // POST the move; on success replace the card with the server's rendering, in the
  // target column; on refusal put it back where it was and say why.
  function move(card, to, reasonChoice, reason, restore) {
    var body = new URLSearchParams();
    body.set("to", to);
    body.set("reason_choice", reasonChoice || "");
    body.set("reason", reason || "");
    var url = card.dataset.moveUrl + (config.query ? "?" + config.query : "");
    card.classList.add("is-moving");
    return fetch(url, {
      method: "POST",
      headers: { "X-CSRFToken": csrfToken(), "Accept": "application/json" },
      credentials: "same-origin",
      body: body
    }).then(function (response) {
      return response.json().catch(function () {
        return { ok: false, message: "The server could not move the lead (" + response.status + ")." };
      });
    }).then(function (data) {
      card.classList.remove("is-moving");
      if (!data.ok) {
        restore();
        say(data.message, "danger");
        return false;
      }
      var fresh = cardFromHtml(data.card);
      var list = listFor(data.stage);
      if (card.parentNode !== list) {
        removeEmptyNote(list);
        list.insertBefore(card, list.firstChild);
      }
      card.replaceWith(fresh);
      updateTotals(data.totals);
      say(data.message, "success");
      fresh.focus();
      return true;
    }).catch(function () {
      card.classList.remove("is-moving");
      restore();
      say("The move did not reach the server; nothing was changed.", "danger");
      return false;
    });
  }

  // --- The move dialog (menu and keyboard path, and reasons for dragged moves) ---------

  var pending = null; // {card, restore}

  function fillReasons(kind) {
    var select = dialog.querySelector("#move-reason-choice");
    select.innerHTML = "";
    var none = document.createElement("option");
    none.value = "";
    none.textContent = "Choose a reason…";
    select.appendChild(none);
    (config.reasons[kind] || []).forEach(function (label) {
      var option = document.createElement("option");
      option.value = label;
      option.textContent = label;
      select.appendChild(option);
    });
    select.hidden = (config.reasons[kind] || []).length === 0;
  }

  function syncReasonBlock() {
    var from = pending.card.dataset.stage;
    var to = dialog.querySelector("#move-to").value;
    var block = dialog.querySelector("[data-reason-block]");
    block.hidden = !needsReason(from, to);
    if (!block.hidden) fillReasons(reasonKind(to));
  }

  function openDialog(card, to, restore) {
    pending = { card: card, restore: restore || function () {}, to: to };
    dialog.querySelector("[data-move-name]").textContent = card.dataset.name;
    dialog.querySelector("[data-move-error]").textContent = "";
    dialog.querySelector("#move-reason").value = "";
    var select = dialog.querySelector("#move-to");
    select.innerHTML = "";
    var allowed = (card.dataset.allowed || "").split(" ").filter(Boolean);
    if (to && allowed.indexOf(to) === -1) allowed.push(to); // let the server say why not
    allowed.forEach(function (stage) {
      var option = document.createElement("option");
      option.value = stage;
      option.textContent = config.stages[stage] || stage;
      select.appendChild(option);
    });
    if (to) select.value = to;
    syncReasonBlock();
    dialog.showModal();
    (to ? dialog.querySelector(needsReason(card.dataset.stage, to) ? "#move-reason-choice" : "[data-move-submit]") : select).focus();
  }

  function closeDialog(cancelled) {
    if (!pending) return;
    var current = pending;
    pending = null;
    if (dialog.open) dialog.close();
    if (cancelled) {
      current.restore();
      current.card.focus();
    }
  }

  if (dialog) {
    dialog.querySelector("#move-to").addEventListener("change", syncReasonBlock);
    dialog.querySelector("[data-move-cancel]").addEventListener("click", function () { closeDialog(true); });
    dialog.addEventListener("cancel", function (event) { event.preventDefault(); closeDialog(true); });
    dialog.querySelector("form").addEventListener("submit", function (event) {
      event.preventDefault();
      if (!pending) return;
      var to = dialog.querySelector("#move-to").value;
      var choice = dialog.querySelector("#move-reason-choice").value;
      var reason = dialog.querySelector("#move-reason").value.trim();
      if (needsReason(pending.card.dataset.stage, to) && !choice && !reason) {
        dialog.querySelector("[data-move-error]").textContent = "Give a reason for this move.";
        dialog.querySelector("#move-reason-choice").focus();  // where the answer goes
        return;
      }
      var current = pending;
      pending = null;
      dialog.close();
      move(current.card, to, needsReason(current.card.dataset.stage, to) ? choice : "",
           needsReason(current.card.dataset.stage, to) ? reason : "", current.restore);
    });
  }

  board.parentNode.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-move-open]");
    if (!button || !canMove) return;
    openDialog(button.closest(".board-card"));
  });

  document.addEventListener("keydown", function (event) {
    if (!canMove || event.ctrlKey || event.metaKey || event.altKey) return;
    var card = document.activeElement;
    if (!card || !card.classList || !card.classList.contains("board-card")) return;
    if (event.key === "m" || event.key === "M") {
      event.preventDefault();
      openDialog(card);
    } else if (event.key === "Enter") {
      var link = card.querySelector("a[href]");
      if (link) link.click();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      var sibling = event.key === "ArrowDown" ? card.nextElementSibling : card.previousElementSibling;
      while (sibling && !sibling.classList.contains("board-card")) {
        sibling = event.key === "ArrowDown" ? sibling.nextElementSibling : sibling.previousElementSibling;
      }
      if (sibling) { event.preventDefault(); sibling.focus(); }
    }
  });

  // --- Drag and drop -----------------------------------------------------------------

  function restorer(item, from, oldIndex) {
    return function () {
      var cards = Array.prototype.filter.call(from.children, function (el) { return el !== item; });
      from.insertBefore(item, cards[oldIndex] || from.querySelector(".board-more") || null);
    };
  }

  if (canMove && window.Sortable) {
    document.querySelectorAll(".board-list").forEach(function (list) {
      window.Sortable.create(list, {
        group: "board",
        draggable: ".board-card",
        filter: "button, a, .board-more",
        preventOnFilter: false,
        animation: 120,
        onEnd: function (evt) {
          if (evt.from === evt.to) return;
          var card = evt.item;
          var from = card.dataset.stage;
          var to = evt.to.dataset.stage;
          var restore = restorer(card, evt.from, evt.oldIndex);
          removeEmptyNote(evt.to);
          if (needsReason(from, to)) {
            openDialog(card, to, restore);
          } else {
            move(card, to, "", "", restore);
          }
        }
      });
    });
  }

  // Cards loaded on scroll may repeat one that was moved into the column meanwhile.
  document.body.addEventListener("htmx:afterSwap", function () {
    var seen = {};
    document.querySelectorAll(".board-card").forEach(function (card) {
      if (seen[card.dataset.lead]) card.remove();
      else seen[card.dataset.lead] = true;
    });
  });

  // --- Poll for new MQLs assigned to me --------------------------------------------------

  var since = config.now;
  var shown = {};  // notification ids already brought onto the board
  function poll() {
    if (document.hidden || pending) return;
    var url = config.pollUrl + "?since=" + encodeURIComponent(since) + (config.query ? "&" + config.query : "");
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        since = data.now;
        // The server looks back a little further than `since` (see BoardPollView):
        // a notification already shown is no news.
        var news = data.cards.filter(function (item) { return !shown[item.notification]; });
        news.forEach(function (item) {
          shown[item.notification] = true;
          var old = document.querySelector(".board-card[data-lead='" + item.id + "']");
          if (old && document.activeElement === old) return;
          if (old) old.remove();
          var list = listFor(item.stage);
          if (!list) return;
          removeEmptyNote(list);
          list.insertBefore(cardFromHtml(item.html), list.firstChild);
        });
        if (news.length) {
          updateTotals(data.totals);
          say(news.length === 1 ? "A new MQL was assigned to you." :
              news.length + " new MQLs were assigned to you.", "info");
        }
      })
      .catch(function () {});
  }
  window.setInterval(poll, POLL_MS);
})();
