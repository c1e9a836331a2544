/*
 * node dash_bench.js URL ROWS SECONDS: the console's fleet page with a
 * synthetic fleet of ROWS instances (the /api/v1/fleet reply is replaced,
 * every value changing each second), in headless chromium.  Prints JSON:
 * frame intervals (requestAnimationFrame) p50/p99/max, long tasks (> 50 ms)
 * and their total, and the rows shown.
 */
"use strict";
const { chromium } = require("playwright-core");
const [url, rows, secs] = [process.argv[2], +process.argv[3], +process.argv[4]];
const states = ["running", "running", "running", "paused", "panicked", "starting", "exited"];

function fleet(tick) {
  const instances = [];
  for (let i = 0; i < rows; i++)
    instances.push({
      name: "inst-" + String(i).padStart(4, "0"), state: states[(i + (tick >> 3)) % 7],
      uptime_s: 1000 + tick, accel: "tcg", smp: 1 + (i % 4), mem_mib: 32, restarts: i % 3,
      panics: 0, boot_id: "b", last_crash: i % 10 ? "" : "0123456789ab-0123456789abcdef",
      cpu_pct: ((i * 7 + tick) % 100) + 0.5, steal_pct: (i + tick) % 10, vcpus_seen: 1,
      heap_bytes: 1e6 + tick * 1000 + i, heap_limit_bytes: 3e7, req_s: (i + tick) % 50,
      http5xx_s: 0, log_s: tick % 5, trace_lost_s: 0 });
  return { time: Date.now() / 1000, instances };
}

(async () => {
  const b = await chromium.launch({ executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const p = await b.newPage({ viewport: { width: 1400, height: 900 } });
    let tick = 0;
    await p.route("**/api/v1/fleet", (r) => r.fulfill({ contentType: "application/json",
      body: JSON.stringify(fleet(tick++)) }));
    await p.goto(url);
    await p.waitForFunction((n) => document.getElementById("fleet-count").textContent
      .startsWith(n + " of " + n + " "), rows, { timeout: 30000 });
    await p.click('th[data-key="cpu_pct"]'); // sorted by a changing column: rows move
    const r = await p.evaluate((ms) => new Promise((done) => {
      const frames = [], longs = [];
      new PerformanceObserver((l) => l.getEntries().forEach((e) => longs.push(e.duration)))
        .observe({ type: "longtask" });
      let last = performance.now();
      const t0 = last;
      const f = (now) => {
        frames.push(now - last);
        last = now;
        if (now - t0 < ms) requestAnimationFrame(f);
        else {
          frames.sort((a, b) => a - b);
          const q = (x) => frames[Math.min(frames.length - 1, Math.floor(x * frames.length))];
          done({ frames: frames.length, p50_ms: q(0.5), p99_ms: q(0.99),
            max_ms: frames[frames.length - 1], long_tasks: longs.length,
            long_task_ms: longs.reduce((a, b) => a + b, 0),
            rows: parseInt(document.getElementById("fleet-count").textContent, 10),
            dom_rows: document.querySelectorAll("#fleet-body tr[data-name]").length });
        }
      };
      requestAnimationFrame(f);
    }), secs * 1000);
    r.updates = tick;
    console.log(JSON.stringify(r));
  } finally {
    await b.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
