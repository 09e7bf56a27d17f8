// emitrun overview charts: throughput and latency drawn with the vendored uPlot from the
// space's chart JSON (jobs/insights.py Series). Refreshes on a slow timer, soon after live
// events that finish a job, and on live:poll while the socket is down.

(function () {
  "use strict";
  const root = document.getElementById("charts");
  if (!root || typeof uPlot === "undefined") return;

  const FINISHING = new Set(["job.completed", "job.dead", "job.failed", "job.killed"]);
  const SLOW_MS = 60000, SOON_MS = 5000;
  const WINDOW_WORDS = { hour: "the last hour", day: "the last day" };
  const plots = {};
  let windowName = root.dataset.window || "hour";
  let lastFetch = 0, pending = null, inFlight = false;

  const duration = (s) => {
    if (s == null) return "–";
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 120) return `${+s.toFixed(1)} s`;
    if (s < 7200) return `${+(s / 60).toFixed(1)} min`;
    return `${+(s / 3600).toFixed(1)} h`;
  };
  const rate = (n) => (n == null ? "–" : `${+n.toFixed(2)}/min`);
  const sum = (xs) => xs.reduce((a, b) => a + (b || 0), 0);
  const maxOf = (xs) => xs.reduce((a, b) => (b == null ? a : Math.max(a ?? b, b)), null);

  function options(el, series, axisValues) {
    return {
      width: Math.max(280, el.clientWidth),
      height: 220,
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(max, 1)] } },
      series: [{}, ...series],
      axes: [{}, { size: 60, values: (u, splits) => splits.map(axisValues) }],
    };
  }

  const throughputSeries = [
    { label: "Completed", stroke: "#1b6b36", fill: "rgba(27,107,54,0.08)", width: 2, value: (u, v) => rate(v) },
    { label: "Failed", stroke: "#b42318", width: 2, value: (u, v) => rate(v) },
  ];
  // Points, not only lines: a bucket between empty ones would otherwise draw nothing.
  const dots = { show: true, size: 5 };
  const latencySeries = [
    { label: "Wait p50", stroke: "#1d4f91", width: 2, spanGaps: true, points: dots, value: (u, v) => duration(v) },
    { label: "Wait p95", stroke: "#1d4f91", dash: [6, 4], width: 1.5, spanGaps: true, points: dots, value: (u, v) => duration(v) },
    { label: "Run p50", stroke: "#8a5300", width: 2, spanGaps: true, points: dots, value: (u, v) => duration(v) },
    { label: "Run p95", stroke: "#8a5300", dash: [6, 4], width: 1.5, spanGaps: true, points: dots, value: (u, v) => duration(v) },
  ];

  function draw(id, series, axisValues, data) {
    const el = document.getElementById(id);
    if (!el) return;
    if (plots[id]) plots[id].setData(data);
    else { el.textContent = ""; plots[id] = new uPlot(options(el, series, axisValues), data, el); }
    el.dataset.loaded = "true";
    el.dataset.window = windowName;
  }

  function summarise(id, text) {
    const p = root.querySelector(`[data-summary-for="${id}"]`);
    if (p) p.textContent = text;
  }

  function render(d) {
    const perMinute = d.bucket_seconds / 60;
    const completed = d.completed.map((n) => n / perMinute);
    const failed = d.failed.map((n) => n / perMinute);
    draw("chart-throughput", throughputSeries, rate, [d.t, completed, failed]);
    draw("chart-latency", latencySeries, duration, [d.t, d.wait_p50, d.wait_p95, d.run_p50, d.run_p95]);
    const words = WINDOW_WORDS[d.window] || d.window;
    summarise("chart-throughput", `${sum(d.completed)} completed, ${sum(d.failed)} failed in ${words}.`);
    const worstWait = maxOf(d.wait_p95), worstRun = maxOf(d.run_p95);
    summarise("chart-latency", worstWait == null
      ? `No finished jobs in ${words}.`
      : `Worst p95 in ${words}: wait ${duration(worstWait)}, run ${duration(worstRun)}.`);
  }

  async function refresh() {
    if (inFlight) return;
    inFlight = true;
    lastFetch = Date.now();
    try {
      const url = `${root.dataset.src}?window=${encodeURIComponent(windowName)}`;
      const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (response.ok) render(await response.json());
    } catch (e) {
      // Network blip: the next timer tick or event tries again.
    } finally {
      inFlight = false;
    }
  }

  // At most one fetch per SOON_MS however many events arrive.
  function soon() {
    if (pending) return;
    const wait = Math.max(0, lastFetch + SOON_MS - Date.now());
    pending = setTimeout(() => { pending = null; refresh(); }, wait);
  }

  function choose(name) {
    if (name === windowName) return;
    windowName = name;
    root.dataset.window = name;
    document.querySelectorAll(".window-toggle [data-window]").forEach((b) => {
      const on = b.dataset.window === name;
      b.setAttribute("aria-pressed", on ? "true" : "false");
      b.classList.toggle("outline", !on);
    });
    const url = new URL(location.href);
    url.searchParams.set("window", name);
    history.replaceState(null, "", url);
    refresh();
  }

  document.querySelectorAll(".window-toggle [data-window]").forEach((b) => {
    b.addEventListener("click", () => choose(b.dataset.window));
  });
  document.body.addEventListener("live:event", (e) => {
    if (e.detail && FINISHING.has(e.detail.type)) soon();
  });
  document.body.addEventListener("live:poll", () => {
    if (Date.now() - lastFetch > 30000) refresh();
  });
  setInterval(() => { if (!document.hidden) refresh(); }, SLOW_MS);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && Date.now() - lastFetch > SLOW_MS) refresh();
  });
  // Follow each chart's box (window resizes, phone rotation, the grid reflowing).
  const fit = new ResizeObserver((entries) => {
    entries.forEach((entry) => {
      const plot = plots[entry.target.id];
      const width = Math.max(280, Math.floor(entry.contentRect.width));
      if (plot && plot.width !== width) plot.setSize({ width, height: 220 });
    });
  });
  ["chart-throughput", "chart-latency"].forEach((id) => {
    const el = document.getElementById(id);
    if (el) fit.observe(el);
  });
  refresh();
})();
