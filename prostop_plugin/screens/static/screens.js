// prostop screens: the little JavaScript the console's and the demo EHR's pages share (no
// framework, no inline script: a Content-Security-Policy may allow scripts from files only).
"use strict";
(function () {
  // A dialog opens with its page (a link "?dialog=ID", or the page a decision was recorded
  // on): when it closes, focus goes back to what opens it on this page — that link, else the
  // request's card, else the page's title — never to the top of the document.
  function returnFocus(id) {
    const links = Array.from(document.querySelectorAll("a[href]")).filter(function (a) {
      return new URL(a.href, window.location.href).searchParams.get("dialog") === id;
    });
    const inMain = links.filter((a) => a.closest("main"));
    let target = inMain[0] || links[0] || document.getElementById("issuance-" + id)
      || document.querySelector("main h1");
    if (!target) { return; }
    if (!target.matches("a[href], button, input, select, textarea, [tabindex]")) {
      target.setAttribute("tabindex", "-1");
    }
    target.focus();
  }

  // Modal dialogs: opened on load, focus moves to the title (autofocus), "close" keeps the request.
  document.querySelectorAll("dialog[data-open-on-load]").forEach(function (dialog) {
    if (typeof dialog.showModal === "function") { dialog.showModal(); } else { dialog.setAttribute("open", ""); }
    const title = dialog.querySelector("[autofocus]");
    if (title) { title.focus(); }
    dialog.addEventListener("close", function () {
      const url = new URL(window.location.href);
      url.searchParams.delete("dialog");
      window.history.replaceState(null, "", url.pathname + url.search);
      returnFocus(dialog.dataset.issuance);
    });
  });
  document.querySelectorAll("[data-close-dialog]").forEach(function (button) {
    button.addEventListener("click", function () { button.closest("dialog").close(); });
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

  // Work in progress (PSC approval, code request): reload when the state changes.
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

  document.querySelectorAll("[data-print]").forEach(function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
