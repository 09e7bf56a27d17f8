// emitrun dashboard: the live connection, copy buttons, confirmations and shortcuts.
// Rendering stays on the server: events only tell htmx partials to re-fetch.
(function () {
  "use strict";
  const body = document.body;

  // --- Live: the space's event stream -> `live:event` on <body>; `live:poll` every
  // 5 s while the socket is down, so partials keep fresh without it. htmx's throttle has
  // no trailing edge, so a partial throttling `live:event` could miss the last event of a
  // burst: `live:settled` fires once the stream has been quiet for 600 ms, and live
  // partials re-fetch on it too, ending on the final state.
  let quiet = null;
  const settleSoon = () => {
    clearTimeout(quiet);
    quiet = setTimeout(() => htmx.trigger(body, "live:settled"), 600);
  };
  function live(path) {
    const status = document.getElementById("live-status");
    let seq = null, poller = null, attempt = 0;
    const show = (state) => { if (status) { status.dataset.state = state; status.textContent = state; } };
    const poll = () => { if (!poller) poller = setInterval(() => htmx.trigger(body, "live:poll"), 5000); show("polling"); };
    const connect = () => {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      const ws = new WebSocket(`${scheme}://${location.host}${path}${seq === null ? "" : `?since=${seq}`}`);
      ws.onopen = () => { attempt = 0; clearInterval(poller); poller = null; show("live"); };
      ws.onmessage = (e) => {
        const msg = JSON.parse(e.data);
        if (msg.type === "ping" || msg.type === "pong") return;
        if (typeof msg.seq === "number") seq = Math.max(seq ?? 0, msg.seq);
        const name = msg.type.startsWith("stream.") ? "live:refresh" : "live:event";
        htmx.trigger(body, name, msg);
        if (name === "live:event") settleSoon();
      };
      ws.onclose = (e) => {
        poll();
        if (e.code >= 4400 && e.code < 4500) return;  // not allowed: polling only
        attempt += 1;
        setTimeout(connect, Math.min(30000, 500 * 2 ** attempt));
      };
    };
    connect();
  }

  // --- Copy buttons: <button data-copy="#id"> copies the element's text.
  document.addEventListener("click", (e) => {
    const button = e.target.closest("[data-copy]");
    if (!button) return;
    const source = document.querySelector(button.dataset.copy);
    if (!source) return;
    const text = source.value ?? source.textContent;
    const done = () => { const old = button.textContent; button.textContent = "Copied"; setTimeout(() => { button.textContent = old; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done);
    else { const t = document.createElement("textarea"); t.value = text; document.body.appendChild(t); t.select(); document.execCommand("copy"); t.remove(); done(); }
  });

  // --- Plain forms with data-confirm="..." ask before submitting (htmx uses hx-confirm).
  document.addEventListener("submit", (e) => {
    const message = e.target.dataset && e.target.dataset.confirm;
    if (message && !window.confirm(message)) e.preventDefault();
  });

  // --- "Select all" checkboxes: <input type="checkbox" data-select-all="name">.
  document.addEventListener("change", (e) => {
    const name = e.target.dataset && e.target.dataset.selectAll;
    if (!name) return;
    document.querySelectorAll(`input[type=checkbox][name="${name}"]`).forEach((box) => { box.checked = e.target.checked; });
  });

  // --- Keyboard: "/" focuses the search box; "g" then o/j/d/t/s follows a tab.
  let pendingG = false;
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName) || e.target.isContentEditable;
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "/") {
      const search = document.querySelector("[data-search]");
      if (search) { e.preventDefault(); search.focus(); }
    } else if (pendingG) {
      pendingG = false;
      const link = document.querySelector(`nav.tabs a[accesskey="${e.key}"]`);
      if (link) link.click();
    } else if (e.key === "g") {
      pendingG = true;
      setTimeout(() => { pendingG = false; }, 1000);
    }
  });

  if (body.dataset.liveUrl) live(body.dataset.liveUrl);
})();
