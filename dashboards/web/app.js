/*
 * ukscope's web console (docs/dashboards.md), served by ukcollectd at /.
 * Plain DOM, no framework: three pages behind the URL hash (#/ fleet,
 * #/i/NAME instance, #/crashes and #/crash/ID), data from the collector's
 * JSON API, charts with uPlot.
 *
 * Every string that comes from the collector can come from a guest (names
 * of threads, log text, crash messages) and is hostile: it only ever
 * reaches the page through textContent / DOM properties, never as markup.
 * The token lives in this page's memory only (not storage, not the URL).
 */
"use strict";

let token = "";
let page = null; // the current page's {stop()}

/* ---------------------------------------------------------------- DOM --- */

/* el("td", {class: "num"}, "text", child...): strings become text nodes. */
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k != null) e.append(k instanceof Node ? k : String(k));
  return e;
}

function setText(e, s) {
  s = String(s);
  if (e.textContent !== s) e.textContent = s;
}

function toast(msg) {
  const t = document.getElementById("toast");
  t.textContent = msg;
  t.style.display = "block";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.style.display = "none"; }, 4000);
}

/* -------------------------------------------------------------- fetch --- */

async function api(path, opts) {
  const r = await fetch(path, opts);
  const conn = document.getElementById("conn");
  conn.className = "conn " + (r.ok || r.status < 500 ? "ok" : "bad");
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

async function getJSON(path) {
  return (await api(path)).json();
}

function authHeaders() {
  return token ? { Authorization: "Bearer " + token } : {};
}

/* Fetch a file and save it without a navigation (the token stays a header). */
async function download(path, filename, auth) {
  try {
    const r = await api(path, { headers: auth ? authHeaders() : {} });
    const url = URL.createObjectURL(await r.blob());
    const a = el("a", { href: url, download: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    toast("saved " + filename);
  } catch (e) {
    toast("Failed to download " + filename + ": " + e.message);
  }
}

/* Poll fn every ms while the page lives; errors mark the connection. */
function poller(fn, ms) {
  let stopped = false, timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } catch (e) { document.getElementById("conn").className = "conn bad"; }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return { stop() { stopped = true; clearTimeout(timer); } };
}

/* ------------------------------------------------------------- format --- */

const fmt = {
  pct: (v) => (v == null ? "" : v.toFixed(v < 10 ? 1 : 0) + " %"),
  rate: (v) => (v == null ? "" : v < 10 ? v.toFixed(1) : Math.round(v).toString()),
  bytes(v) {
    if (v == null) return "";
    const u = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : v.toString()) + " " + u[i];
  },
  dur(s) {
    if (s == null) return "";
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60) + "s";
    if (s < 86400) return Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
    return Math.floor(s / 86400) + "d" + Math.floor((s % 86400) / 3600) + "h";
  },
  time: (ns) => new Date(ns / 1e6).toISOString().slice(11, 23),
};

/* The collector's states, in the words of the fleet page. */
function stateLabel(r) {
  if (r.state === "exited") return "dead";
  if (r.state === "starting" && r.restarts > 0) return "restarting";
  return r.state;
}

const SEVERITY = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"];

/* -------------------------------------------------------------- fleet --- */

const FLEET_COLS = [
  ["name", "Instance", (r) => r.name, false],
  ["state", "State", (r) => stateLabel(r), false],
  ["uptime_s", "Uptime", (r) => r.uptime_s, true],
  ["accel", "Accel", (r) => r.accel, false],
  ["smp", "vCPUs", (r) => r.smp, true],
  ["cpu_pct", "CPU", (r) => r.cpu_pct, true],
  ["steal_pct", "Steal", (r) => r.steal_pct, true],
  ["heap_bytes", "Heap", (r) => r.heap_bytes, true],
  ["req_s", "HTTP req/s", (r) => r.req_s, true],
  ["log_s", "Log lines/s", (r) => r.log_s, true],
  ["restarts", "Restarts", (r) => r.restarts, true],
  ["last_crash", "Last crash", (r) => r.last_crash, false],
];

function fleetPage(main) {
  let sortKey = "name", asc = true, filter = "", rows = [];
  const head = el("tr", {});
  const tbody = el("tbody", { id: "fleet-body" });
  const count = el("span", { class: "muted", id: "fleet-count" });
  const input = el("input", { id: "fleet-filter", type: "search",
    placeholder: "filter: name, state, crash signature" });
  input.addEventListener("input", () => { filter = input.value.toLowerCase(); render(); });
  for (const [key, label, , num] of FLEET_COLS) {
    const th = el("th", { class: num ? "num" : "", "data-key": key }, label);
    th.addEventListener("click", () => {
      if (sortKey === key) asc = !asc; else { sortKey = key; asc = !num; }
      render();
    });
    head.append(th);
  }
  /* Windowed: only the rows in view (and a margin) are in the DOM, between two spacer
   * rows of the right height, so a fleet of hundreds costs what one screen costs. */
  const ROW_H = 26, MARGIN = 15;
  const topTd = el("td", { colspan: "12" }), bottomTd = el("td", { colspan: "12" });
  const top = el("tr", { class: "spacer" }, topTd), bottom = el("tr", { class: "spacer" }, bottomTd);
  const scroller = el("div", { class: "scroller", id: "fleet-scroll" },
    el("table", { id: "fleet" }, el("thead", {}, head), tbody));
  scroller.addEventListener("scroll", () => requestAnimationFrame(render), { passive: true });
  main.append(el("h1", {}, "Fleet"), el("div", { class: "toolbar" }, input, count), scroller);

  /* Row slots: the DOM rows in view are reused by position and only their changed text is
   * rewritten, so a fleet re-sorted every second moves no nodes. */
  const slots = [];
  function slot(i) {
    if (!slots[i]) {
      const link = el("a", {});
      const cells = FLEET_COLS.map(([, , , num]) => el("td", { class: num ? "num" : "" }));
      cells[0].append(link);
      const badge = el("span", { class: "state" });
      cells[1].append(badge);
      cells[11].className = "sig";
      slots[i] = { tr: el("tr", {}, ...cells), cells, link, badge };
    }
    return slots[i];
  }
  function fill(x, r) {
    const c = x.cells, st = stateLabel(r);
    if (x.tr.dataset.name !== r.name) {
      x.tr.dataset.name = r.name;
      x.link.href = "#/i/" + encodeURIComponent(r.name);
      setText(x.link, r.name);
    }
    if (x.tr.dataset.state !== r.state) x.tr.dataset.state = r.state;
    setText(x.badge, st);
    const cls = "state st-" + st;
    if (x.badge.className !== cls) x.badge.className = cls;
    setText(c[2], fmt.dur(r.uptime_s));
    setText(c[3], r.accel);
    setText(c[4], r.smp);
    setText(c[5], fmt.pct(r.cpu_pct));
    setText(c[6], fmt.pct(r.steal_pct));
    setText(c[7], fmt.bytes(r.heap_bytes));
    setText(c[8], fmt.rate(r.req_s));
    setText(c[9], fmt.rate(r.log_s));
    setText(c[10], r.restarts);
    setText(c[11], r.last_crash || "");
    return x.tr;
  }

  function render() {
    const col = FLEET_COLS.find((c) => c[0] === sortKey);
    const key = col[2];
    const shown = rows.filter((r) => !filter ||
      (r.name + " " + stateLabel(r) + " " + (r.last_crash || "")).toLowerCase().includes(filter));
    shown.sort((a, b) => {
      const x = key(a), y = key(b);
      const d = x == null ? (y == null ? 0 : -1) : y == null ? 1 : typeof x === "number" ? x - y
        : x < y ? -1 : x > y ? 1 : 0;
      return (asc ? d : -d) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    });
    for (const th of head.children) {
      th.classList.toggle("sorted", th.dataset.key === sortKey);
      th.classList.toggle("asc", th.dataset.key === sortKey && asc);
    }
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - MARGIN);
    const last = Math.min(shown.length,
      first + Math.ceil((scroller.clientHeight || 900) / ROW_H) + 2 * MARGIN);
    topTd.style.height = first * ROW_H + "px";
    bottomTd.style.height = (shown.length - last) * ROW_H + "px";
    const n = last - first;
    for (let i = 0; i < n; i++) fill(slot(i), shown[first + i]);
    if (tbody.children.length !== n + 2)
      tbody.replaceChildren(top, ...slots.slice(0, n).map((x) => x.tr), bottom);
    setText(count, shown.length + " of " + rows.length + " instances");
  }

  const p = poller(async () => {
    rows = (await getJSON("/api/v1/fleet")).instances;
    render();
  }, 1000);
  return { stop: () => p.stop() };
}

/* ----------------------------------------------------------- instance --- */

const PALETTE = ["#2c7bb6", "#d7191c", "#1a9850", "#fdae61", "#7b3294", "#008837", "#e66101",
  "#5e3c99"];

function chart(box, title, series, fmtY) {
  const card = el("div", { class: "chart" }, el("h3", {}, title));
  box.append(card);
  const opts = {
    width: 420, height: 160,
    series: [{}, ...series.map((s, i) => ({ label: s, stroke: PALETTE[i % PALETTE.length],
      width: 1.5, value: (u, v) => (v == null ? "" : fmtY(v)) }))],
    axes: [{ values: (u, vals) => vals.map((v) => new Date(v * 1000).toTimeString().slice(0, 8)) },
      { values: (u, vals) => vals.map(fmtY), size: 60 }],
    scales: { x: { time: true } },
    legend: { live: true },
  };
  const u = new uPlot(opts, [[], ...series.map(() => [])], card);
  const ro = new ResizeObserver(() => u.setSize({ width: card.clientWidth - 12, height: 160 }));
  ro.observe(card);
  return { u, ro };
}

function instancePage(main, name) {
  const stops = [];
  const info = el("table", { class: "kv", id: "inst-info" });
  const charts = el("div", { class: "charts", id: "charts" });
  const threads = el("tbody", { id: "threads-body" });
  const log = el("div", { id: "log" });
  const sev = el("select", { id: "log-sev" },
    ...SEVERITY.map((s, i) => el("option", { value: String(i) }, i + " " + s)));
  sev.value = "7";
  const search = el("input", { id: "log-search", type: "search", placeholder: "search the tail" });
  const enc = encodeURIComponent(name);
  const stamp = () => new Date().toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const buttons = el("div", { class: "toolbar" },
    el("button", { id: "btn-trace-perfetto", onclick: () => download(
      "/api/v1/instances/" + enc + "/trace?last=30&format=perfetto", name + "-" + stamp() +
      ".perfetto-trace") }, "Trace: Perfetto (30 s)"),
    el("button", { id: "btn-trace-json", onclick: () => download(
      "/api/v1/instances/" + enc + "/trace?last=30&format=json", name + "-" + stamp() +
      ".json") }, "Trace: Chrome JSON"),
    el("button", { id: "btn-dump", onclick: () => dump(name) }, "Take a dump"),
    el("span", { class: "muted" }, "CTF: ukctl trace --format ctf (a directory)"));
  main.append(el("h1", {}, "Instance ", el("span", { id: "inst-name" }, name)), info, buttons,
    el("h2", {}, "Last 15 minutes"), charts,
    el("div", { class: "cols" },
      el("div", {}, el("h2", {}, "Threads"), el("table", { id: "threads" },
        el("thead", {}, el("tr", {}, el("th", {}, "tid"), el("th", {}, "name"),
          el("th", {}, "state"), el("th", {}, "vCPU"), el("th", { class: "num" }, "CPU"),
          el("th", { class: "num" }, "run time"))), threads)),
      el("div", {}, el("h2", {}, "Log"), el("div", { class: "toolbar" },
        el("label", {}, "max severity ", sev), search), log)));

  /* header */
  stops.push(poller(async () => {
    const i = await getJSON("/api/v1/instances/" + enc);
    const kv = [["state", i.state], ["uptime", fmt.dur(i.uptime_s)], ["accel", i.accel],
      ["vCPUs", i.smp], ["memory", i.mem_mib + " MiB"], ["build", i.build_id],
      ["boot", i.boot_id], ["restarts", i.restarts], ["panics", i.panics],
      ["klog records / lost", i.log.klog_records + " / " + i.log.klog_lost]];
    if (info.rows.length !== kv.length)
      info.replaceChildren(...kv.map(([k]) => el("tr", {}, el("td", {}, k), el("td", {}))));
    kv.forEach(([, v], n) => setText(info.rows[n].cells[1], v));
    info.dataset.state = i.state;
  }, 2000));

  /* charts */
  const defs = [
    ["cpu", "CPU per vCPU (host view, %)", (v) => v.toFixed(v < 10 ? 1 : 0) + "%"],
    ["steal", "Steal (%)", (v) => v.toFixed(1) + "%"],
    ["heap", "Heap in use", (v) => fmt.bytes(v)],
    ["req_s", "HTTP requests/s", (v) => v.toFixed(1)],
    ["log_s", "Log lines/s", (v) => v.toFixed(1)],
    ["trace_lost_s", "Trace events lost/s", (v) => v.toFixed(1)],
  ];
  let made = null, since = 0, data = null;
  stops.push(poller(async () => {
    const h = await getJSON("/api/v1/instances/" + enc + "/history?since=" + since);
    if (!made) {
      const nv = Math.max(1, h.cpu.length);
      made = defs.map(([key, title, f]) => chart(charts, title,
        key === "cpu" ? Array.from({ length: nv }, (_, v) => "vCPU " + v) : [title], f));
      data = defs.map(([key]) => [[], ...(key === "cpu" ? Array.from({ length: nv }, () => [])
        : [[]])]);
    }
    h.t = h.t_ms.map((ms) => ms / 1000); // uPlot's time scale is in seconds
    if (!h.t.length) return;
    const cut = Date.now() / 1000 - 900;
    defs.forEach(([key], k) => {
      const d = data[k];
      d[0].push(...h.t);
      if (key === "cpu") h.cpu.forEach((col, v) => d[v + 1] && d[v + 1].push(...col));
      else d[1].push(...h[key]);
      let drop = 0;
      while (drop < d[0].length && d[0][drop] < cut) drop++;
      if (drop) d.forEach((col) => col.splice(0, drop));
      made[k].u.setData(d);
    });
    since = Math.floor(h.t[h.t.length - 1]) + 1;
    charts.dataset.points = String(data[0][0].length);
  }, 1000));
  stops.push({ stop: () => made && made.forEach((m) => { m.ro.disconnect(); m.u.destroy(); }) });

  /* threads */
  let prevRun = new Map(), prevT = 0;
  stops.push(poller(async () => {
    let j;
    try { j = await getJSON("/api/v1/instances/" + enc + "/threads?detail=1"); } catch (e) {
      threads.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "muted" },
        "no thread table: " + e.message)));
      return;
    }
    const now = performance.now(), dt = (now - prevT) / 1000, run = new Map();
    threads.replaceChildren(...j.threads.map((t) => {
      run.set(t.tid, t.run_ns);
      const before = prevRun.get(t.tid);
      const cpu = before != null && dt > 0 ? (t.run_ns - before) / 1e7 / dt : null;
      return el("tr", { "data-tid": String(t.tid) }, el("td", { class: "num" }, t.tid),
        el("td", {}, t.name), el("td", {}, t.state), el("td", {}, t.cpu < 0 ? "" : t.cpu),
        el("td", { class: "num" }, fmt.pct(cpu)),
        el("td", { class: "num" }, (t.run_ns / 1e9).toFixed(3) + " s"));
    }));
    prevRun = run;
    prevT = now;
  }, 2000));

  /* log tail: the last 300 records, then Server-Sent Events */
  const lines = [];
  const MAX_LINES = 3000;
  function shows(r) {
    const q = search.value.toLowerCase();
    return (r.severity == null || r.severity <= +sev.value) &&
      (!q || (r.text || "").toLowerCase().includes(q) || (r.thread || "").toLowerCase().includes(q));
  }
  function line(r) {
    const d = el("div", { class: "sev" + (r.severity == null ? "" : r.severity) });
    d.textContent = r.lost != null ? "-- " + r.lost + " records lost from seq " + r.from_seq + " --"
      : (r.time_ns ? fmt.time(r.time_ns) : "") + " " + (SEVERITY[r.severity] || r.source || "") +
        " [" + (r.thread || r.tid || "") + "] " + (r.text || "");
    d.hidden = !shows(r);
    return d;
  }
  function add(recs) {
    const stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 20;
    const frag = document.createDocumentFragment();
    for (const r of recs) {
      const d = line(r);
      lines.push([r, d]);
      frag.append(d);
    }
    log.append(frag);
    while (lines.length > MAX_LINES) lines.shift()[1].remove();
    if (stick) log.scrollTop = log.scrollHeight;
  }
  const refilter = () => { for (const [r, d] of lines) d.hidden = !shows(r); };
  sev.addEventListener("change", refilter);
  search.addEventListener("input", refilter);
  let es = null, closed = false, next = 0, boot = "";
  const track = (r) => {
    if (r.seq != null) next = Math.max(next, r.seq + 1);
    else if (r.lost != null) next = Math.max(next, r.from_seq + r.lost);
  };
  /* Follow from the next record; after an error (collector restarted, network), resume
   * from there instead of letting EventSource replay from the first URL's position; a new
   * boot of the instance starts at its seq 0. */
  async function follow() {
    if (closed) return;
    try {
      const i = await getJSON("/api/v1/instances/" + enc);
      if (i.boot_id !== boot) {
        if (boot) add([{ text: "-- new boot " + i.boot_id + " --" }]);
        boot = i.boot_id;
        next = boot && !lines.length ? Math.max(0, i.log.klog_next - 300) : 0;
        const j = await getJSON("/api/v1/instances/" + enc + "/logs?since=" + next +
          "&limit=300");
        j.records.forEach(track);
        add(j.records);
        next = Math.max(next, j.next);
      }
    } catch (e) {
      if (!closed) setTimeout(follow, 2000);
      return;
    }
    if (closed) return;
    es = new EventSource("/api/v1/instances/" + enc + "/logs?follow=1&since=" + next);
    es.onopen = () => { log.dataset.live = "1"; };
    es.onmessage = (ev) => {
      try { const r = JSON.parse(ev.data); track(r); add([r]); } catch (e) { /* skip */ }
    };
    es.onerror = () => {
      es.close();
      log.dataset.live = "0";
      if (!closed) setTimeout(follow, 2000);
    };
  }
  follow();
  stops.push({ stop: () => { closed = true; if (es) es.close(); } });
  return { stop: () => stops.forEach((s) => s.stop()) };
}

async function dump(name) {
  if (!token) { toast("Set the API token first (top right)"); return; }
  try {
    const r = await api("/api/v1/instances/" + encodeURIComponent(name) + "/dump",
      { method: "POST", headers: authHeaders() });
    const j = await r.json();
    toast("dump started: " + (j.log || "see the Crashes page"));
  } catch (e) {
    toast("Failed to take a dump: " + e.message);
  }
}

/* ------------------------------------------------------------ crashes --- */

function crashesPage(main) {
  const tbody = el("tbody", { id: "crash-groups" });
  const note = el("p", { class: "muted", id: "crash-dir" });
  main.append(el("h1", {}, "Crashes"), note, el("table", { id: "crashes" }, el("thead", {},
    el("tr", {}, ...["Signature", "Count", "First seen", "Last seen", "Instances", "Reason",
      "Message", "Top frame"].map((h) => el("th", {}, h)))), tbody));
  const p = poller(async () => {
    const j = await getJSON("/api/v1/crashes");
    setText(note, "crash store: " + j.dir + " — " + j.bundles.length + " bundles");
    j.groups.sort((a, b) => String(b.last_seen).localeCompare(String(a.last_seen)));
    tbody.replaceChildren(...j.groups.map((g) => el("tr", { "data-signature": g.signature },
      el("td", { class: "sig" }, el("a", { href: "#/crash/" + encodeURIComponent(g.last_id) },
        g.signature)),
      el("td", { class: "num" }, g.count), el("td", {}, g.first_seen), el("td", {}, g.last_seen),
      el("td", {}, (g.instances || []).join(", ")), el("td", {}, g.reason),
      el("td", {}, g.message), el("td", {}, g.top_frame))));
  }, 3000);
  return { stop: () => p.stop() };
}

function frameText(f) {
  return (f.addr || "") + " " + (f.function || "?") + (f.offset != null ? "+" + f.offset : "") +
    (f.source ? "  " + f.source : "");
}

function crashPage(main, id) {
  main.append(el("h1", {}, "Crash ", el("span", { class: "sig" }, id)));
  (async () => {
    let r;
    try { r = await getJSON("/api/v1/crashes/" + encodeURIComponent(id)); } catch (e) {
      main.append(el("p", {}, "Failed to read the report: " + e.message));
      return;
    }
    const inst = (r.instance && r.instance.name) || "";
    main.append(
      el("table", { class: "kv", id: "crash-info" }, ...[["signature", r.signature],
        ["time", r.time], ["instance", inst], ["reason", r.reason], ["message", r.message],
        ["build", r.build_id], ["cpu", r.cpu]].map(([k, v]) =>
        el("tr", {}, el("td", {}, k), el("td", {}, v == null ? "" : v)))),
      el("div", { class: "toolbar" }, el("button", { id: "btn-core", onclick: () => token
        ? download("/api/v1/crashes/" + encodeURIComponent(id) + "/core", id + ".core", true)
        : toast("Set the API token first (top right): a core holds guest memory") },
      "Download core"),
      r.timeline && r.timeline.status === "ok" ? el("button", { id: "btn-timeline",
        onclick: () => download("/api/v1/crashes/" + encodeURIComponent(id) + "/timeline",
          id + ".perfetto-trace", false) }, "Download guest+host timeline") :
        el("span", { class: "muted", id: "no-timeline" }, "no guest+host timeline: " +
          ((r.timeline && r.timeline.why) || "not recorded"))),
      el("h2", {}, "Backtrace (thread " + ((r.thread && r.thread.name) || "") + ")"),
      el("pre", { class: "frames", id: "crash-frames" },
        ((r.thread && r.thread.frames) || []).map(frameText).join("\n")),
      el("h2", {}, "Threads"),
      el("table", { id: "crash-threads" }, el("thead", {}, el("tr", {}, ...["tid", "name", "state",
        "cpu", "top frames"].map((h) => el("th", {}, h)))), el("tbody", {},
        ...(r.threads || []).map((t) => el("tr", {}, el("td", {}, t.tid), el("td", {}, t.name),
          el("td", {}, t.state), el("td", {}, t.cpu),
          el("td", {}, (t.frames || []).map((f) => f.function || "?").join(" < ")))))),
      el("h2", {}, "Last log lines"),
      el("div", { id: "log", class: "crash-log" }, ...(r.log || []).map((l) =>
        el("div", { class: "sev" + l.level }, (SEVERITY[l.level] || "") + " " + (l.text || "")))));
  })();
  return { stop() {} };
}

/* ------------------------------------------------------------- router --- */

function route() {
  if (page) page.stop();
  const main = document.getElementById("main");
  main.replaceChildren();
  const h = location.hash || "#/";
  let m;
  document.getElementById("nav-fleet").classList.toggle("active", h === "#/");
  document.getElementById("nav-crashes").classList.toggle("active", h.startsWith("#/crash"));
  if ((m = h.match(/^#\/i\/(.+)$/))) page = instancePage(main, decodeURIComponent(m[1]));
  else if (h === "#/crashes") page = crashesPage(main);
  else if ((m = h.match(/^#\/crash\/(.+)$/))) page = crashPage(main, decodeURIComponent(m[1]));
  else page = fleetPage(main);
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const inp = document.getElementById("token");
  token = inp.value.trim();
  inp.value = "";
  document.getElementById("token-state").textContent = token ? "token set" : "";
});
window.addEventListener("hashchange", route);
route();
