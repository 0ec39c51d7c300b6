// prostop console: its own JavaScript beside the shared screens.js (dialogs, countdown, polling,
// print): the dialog opened again by its button, the live pending list, notifications. No
// inline script: the Content-Security-Policy allows scripts from files only.
"use strict";
(function () {
  // The request page's button opens the dialog again after "decide later".
  document.querySelectorAll("[data-open-dialog]").forEach(function (button) {
    button.addEventListener("click", function () {
      const dialog = document.getElementById(button.dataset.openDialog);
      if (dialog && typeof dialog.showModal === "function" && !dialog.open) { dialog.showModal(); }
    });
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
})();
