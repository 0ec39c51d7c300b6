// prostop console: the little JavaScript the pages need (no framework, no inline script:
// the Content-Security-Policy allows scripts from this file only).
"use strict";
(function () {
  // Modal dialogs: opened on load, focus moves to the title (autofocus), "later" keeps the request.
  document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dialog) {
    if (typeof dialog.showModal === "function") { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
    const title = dialog.querySelector("[autofocus]");
    if (title) { title.focus(); }
  });
  document.querySelectorAll("[data-close-dialog]").forEach(function (button) {
    button.addEventListener("click", function () { button.closest("dialog").close(); });
  });
  document.querySelectorAll("[data-open-dialog]").forEach(function (button) {
    button.addEventListener("click", function () {
      const dialog = document.getElementById(button.dataset.openDialog);
      if (dialog && typeof dialog.showModal === "function" && !dialog.open) { dialog.showModal(); }
    });
  });

  // Live countdown to the end of validity.
  function remaining(ms) {
    const total = Math.max(0, Math.floor(ms / 1000));
    const h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return (h ? h + " h " : "") + pad(m) + " min " + pad(s) + " s";
  }
  document.querySelectorAll("[data-countdown-until]").forEach(function (box) {
    const until = Date.parse(box.dataset.countdownUntil);
    const value = box.querySelector(".countdown-value");
    let reloaded = false;
    function tick() {
      const left = until - Date.now();
      if (left <= 0) {
        value.textContent = box.dataset.expiredText || "—";
        if (!reloaded) { reloaded = true; window.setTimeout(() => window.location.reload(), 1500); }
        return;
      }
      value.textContent = remaining(left);
      box.classList.toggle("is-low", left < 10 * 60 * 1000);
    }
    tick();
    window.setInterval(tick, 1000);
  });

  // Work in progress (PSC approval, code request, login): reload when the state changes.
  document.querySelectorAll("[data-poll-url]").forEach(function (box) {
    const url = box.dataset.pollUrl, state = box.dataset.pollState;
    const timer = window.setInterval(function () {
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then((r) => r.ok ? r.json() : null)
        .then(function (body) {
          if (body && (body.state || body.status) !== state) { window.clearInterval(timer); window.location.reload(); }
        })
        .catch(function () { /* try again at the next tick */ });
    }, 700);
  });

  // The pending list, live: polled every 4 s; a new or gone request reloads the list
  // (unless a dialog is open), the count shows in the tab's title and the menu.
  const live = document.querySelector("[data-live-pending]");
  const badge = document.querySelector("[data-pending-count]");
  const baseTitle = document.title.replace(/^\(\d+\) /, "");
  function showCount(count) {
    document.title = (count ? "(" + count + ") " : "") + baseTitle;
    if (badge) { badge.textContent = String(count); badge.hidden = count === 0; }
  }
  if (badge) {
    const known = live ? live.dataset.ids.split(",").filter(Boolean) : null;
    window.setInterval(function () {
      fetch("/demandes/etat.json", { credentials: "same-origin", cache: "no-store" })
        .then((r) => r.ok ? r.json() : null)
        .then(function (body) {
          if (!body) { return; }
          showCount(body.count);
          if (known === null) { return; }
          const fresh = body.ids.filter((id) => known.indexOf(id) < 0);
          if (fresh.length && "Notification" in window && Notification.permission === "granted") {
            new Notification(baseTitle, { body: String(fresh.length) + " +" });
          }
          if ((fresh.length || body.ids.length !== known.length) && !document.querySelector("dialog[open]")) {
            window.location.reload();
          }
        })
        .catch(function () { /* next tick */ });
    }, 4000);
  }
  document.querySelectorAll("[data-enable-notifications]").forEach(function (button) {
    if (!("Notification" in window)) { button.hidden = true; return; }
    button.addEventListener("click", function () { Notification.requestPermission(); });
  });

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
