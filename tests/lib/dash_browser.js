/*
 * The console in a real browser (tests/e2e/test_dashboard.py): Debian's
 * chromium, headless, driven by playwright-core from dashboards/package-lock.json.
 *
 *   node dash_browser.js CONFIG.json
 *
 * CONFIG: {url, out, token, instances[], xss: {name, thread, log[]},
 *          fault: {name, port, token}, crash_wait_s}
 * Writes OUT/result.json ({steps: [{name, ok, ms, detail}]}) and OUT/*.png; exit 0 when every
 * step passed.  Each step has its own timeout.
 */
"use strict";
const fs = require("fs");
const path = require("path");
const { chromium } = require("playwright-core");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const steps = [];

async function step(name, ms, fn) {
  const t0 = Date.now();
  let timer;
  try {
    const detail = await Promise.race([fn(), new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms);
    })]);
    steps.push({ name, ok: true, ms: Date.now() - t0, detail: detail || "" });
  } catch (e) {
    steps.push({ name, ok: false, ms: Date.now() - t0, detail: String(e && e.stack || e) });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/* Poll fn() in the page until it returns truthy. */
async function until(page, what, fn, arg, ms) {
  const h = await page.waitForFunction(fn, arg, { timeout: ms, polling: 250 }).catch((e) => {
    throw new Error(`waiting for ${what}: ${e.message}`);
  });
  return h.jsonValue();
}

/* Click a download button; the saved file's bytes. */
async function downloaded(page, button) {
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }),
    page.click(button)]);
  const p = await dl.path();
  if (!p) throw new Error(`${button}: download failed: ${await dl.failure()}`);
  return fs.readFileSync(p);
}

async function shot(page, name) {
  const p = path.join(cfg.out, name);
  await page.screenshot({ path: p, fullPage: false });
  return p;
}

(async () => {
  const browser = await chromium.launch({
    executablePath: cfg.chromium || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  let failed = false;
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    /* The XSS canary: payloads set __xss; a CSP violation means markup got in. */
    await page.addInitScript(() => {
      window.__xss = 0;
      window.__csp = [];
      document.addEventListener("securitypolicyviolation",
        (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
    });

    await step("fleet page lists every instance", 60000, async () => {
      await page.goto(cfg.url + "/");
      const names = await until(page, "all rows", (want) => {
        const got = [...document.querySelectorAll("#fleet-body tr[data-name]")].map((r) => r.dataset.name);
        return want.every((n) => got.includes(n)) && got;
      }, cfg.instances, 55000);
      await page.waitForTimeout(1500); // a couple of live updates
      await shot(page, "fleet.png");
      return names.join(",");
    });

    await step("sorting and filtering the fleet", 20000, async () => {
      await page.click('th[data-key="name"]'); // descending
      const order = await until(page, "descending order", () => {
        const n = [...document.querySelectorAll("#fleet-body tr[data-name]")].map((r) => r.dataset.name);
        const s = [...n].sort().reverse();
        return n.join() === s.join() && n;
      }, null, 5000);
      await page.fill("#fleet-filter", cfg.instances[0]);
      await until(page, "filtered", (n) => {
        const rows = [...document.querySelectorAll("#fleet-body tr[data-name]")];
        return rows.length === 1 && rows[0].dataset.name === n;
      }, cfg.instances[0], 5000);
      await page.fill("#fleet-filter", "");
      return order.join(",");
    });

    const x = cfg.xss.name;
    await step("instance page: a chart has drawn points", 90000, async () => {
      await page.goto(cfg.url + "/#/i/" + encodeURIComponent(x));
      const n = await until(page, "3 points in the charts", () =>
        +(document.getElementById("charts") || {}).dataset?.points >= 3 &&
        +document.getElementById("charts").dataset.points, null, 60000);
      /* pixels of the first series' colour (#2c7bb6) on the first chart's canvas */
      const px = await until(page, "series pixels", () => {
        const c = document.querySelector(".chart canvas");
        const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
        let k = 0;
        for (let i = 0; i < d.length; i += 4)
          if (Math.abs(d[i] - 44) < 30 && Math.abs(d[i + 1] - 123) < 30 &&
              Math.abs(d[i + 2] - 182) < 30 && d[i + 3] > 100) k++;
        return k > 20 && k;
      }, null, 20000);
      const pf = await downloaded(page, "#btn-trace-perfetto");
      const js = JSON.parse((await downloaded(page, "#btn-trace-json")).toString());
      if (pf.length < 64 || !(js.traceEvents || js).length)
        throw new Error(`trace downloads: perfetto ${pf.length} bytes, json ${JSON.stringify(js).slice(0, 200)}`);
      return `${n} points, ${px} series pixels; trace downloads ${pf.length} B perfetto, ` +
        `${(js.traceEvents || js).length} JSON events`;
    });

    await step("hostile thread name and log lines stay text", 60000, async () => {
      await until(page, "the thread row", (t) => [...document.querySelectorAll("#threads-body td")]
        .some((td) => td.textContent === t), cfg.xss.thread, 30000);
      for (const l of cfg.xss.log)
        await until(page, "the log line", (t) => (document.getElementById("log") || {})
          .textContent?.includes(t), l, 30000);
      await shot(page, "instance.png");
      const bad = await page.evaluate(() => ({
        xss: window.__xss, csp: window.__csp,
        injected: document.querySelectorAll("main img, main script, main [onerror]").length,
      }));
      if (bad.xss || bad.csp.length || bad.injected)
        throw new Error("guest strings ran or became markup: " + JSON.stringify(bad));
      return JSON.stringify(bad);
    });

    await step("a log line emitted after the page loaded appears in the tail", 60000, async () => {
      const before = await page.evaluate(() => document.getElementById("log").textContent);
      const seen = new Set(before.match(/heartbeat \d+/g) || []);
      const line = await until(page, "a new heartbeat", (old) => {
        const now = document.getElementById("log").textContent.match(/heartbeat \d+/g) || [];
        return now.find((h) => !old.includes(h));
      }, [...seen], 45000);
      return line;
    });

    await step("the severity filter and search hide lines", 20000, async () => {
      await page.fill("#log-search", "heartbeat");
      const r = await until(page, "only heartbeats shown", () => {
        const shown = [...document.querySelectorAll("#log div")].filter((d) => !d.hidden);
        return shown.length > 0 && shown.every((d) => d.textContent.includes("heartbeat")) &&
          shown.length;
      }, null, 5000);
      await page.fill("#log-search", "");
      await page.selectOption("#log-sev", "3");
      await until(page, "info lines hidden", () =>
        [...document.querySelectorAll("#log div")].filter((d) => d.textContent.includes(" info "))
          .every((d) => d.hidden), null, 5000);
      await page.selectOption("#log-sev", "7");
      return `${r} heartbeat lines`;
    });

    await step("a fault turns the row panicked", 120000, async () => {
      const f = cfg.fault;
      const r = await fetch(`http://127.0.0.1:${f.port}/fault/panic`, {
        method: "POST", headers: { Authorization: "Bearer " + f.token } });
      if (r.status < 200 || r.status > 299) throw new Error("fault request: " + r.status);
      await page.goto(cfg.url + "/#/");
      await until(page, "panicked row", (n) => {
        const tr = document.querySelector(`#fleet-body tr[data-name="${n}"]`);
        return tr && tr.dataset.state === "panicked" &&
          tr.querySelector(".state").className.includes("st-panicked");
      }, f.name, 110000);
      await shot(page, "fleet-panicked.png");
      return f.name;
    });

    await step("the crash group appears and its report renders", 240000, async () => {
      let how = "the collector wrote the bundle";
      const has = async () => (await (await fetch(cfg.url + "/api/v1/crashes")).json()).groups
        .some((g) => (g.instances || []).includes(cfg.fault.name));
      const t0 = Date.now();
      while (!(await has()) && Date.now() - t0 < cfg.crash_wait_s * 1000)
        await new Promise((r) => setTimeout(r, 1000));
      if (!(await has())) {
        /* No bundle from the collector itself: take one from the console (token). */
        how = "no bundle from the collector; took one with the console's dump button";
        await page.goto(cfg.url + "/#/i/" + encodeURIComponent(cfg.fault.name));
        await page.click("#btn-dump");
        await until(page, "the token hint", () =>
          document.getElementById("toast").textContent.includes("token"), null, 5000);
        await page.fill("#token", cfg.token);
        await page.click("#token-form button");
        await page.click("#btn-dump");
        await until(page, "dump started", () =>
          document.getElementById("toast").textContent.startsWith("dump started"), null, 10000);
        const kept = await page.evaluate((t) => ({ local: localStorage.length,
          session: sessionStorage.length, cookie: document.cookie, url: location.href.includes(t),
          input: document.getElementById("token").value }), cfg.token);
        if (kept.local || kept.session || kept.cookie || kept.url || kept.input)
          throw new Error("the token left the page's memory: " + JSON.stringify(kept));
        const t1 = Date.now();
        while (!(await has()) && Date.now() - t1 < 170000)
          await new Promise((r) => setTimeout(r, 1000));
      }
      await page.goto(cfg.url + "/#/crashes");
      await until(page, "the crash group rows", (n) => {
        const rows = [...document.querySelectorAll("#crash-groups tr")];
        return rows.length === 2 && rows.some((r) => r.textContent.includes(n));
      }, cfg.fault.name, 20000);
      await shot(page, "crashes.png");
      const texts = await page.evaluate(() => document.getElementById("crash-groups").textContent);
      for (const x of cfg.fake.group_texts)
        if (!texts.includes(x)) throw new Error("the hostile group's text is not shown as text: " + x);
      const href = await page.evaluate((n) => [...document.querySelectorAll("#crash-groups tr")]
        .find((r) => r.textContent.includes(n)).querySelector("a").getAttribute("href"),
      cfg.fault.name);
      await page.goto(cfg.url + "/" + href);
      await until(page, "the backtrace", () =>
        (document.getElementById("crash-frames") || {}).textContent?.length > 0, null, 20000);
      const log = await page.evaluate(() => document.getElementById("log").textContent);
      await shot(page, "crash.png");
      /* the core needs the token (guest memory): set it here if the dump
       * button did not already */
      await page.fill("#token", cfg.token);
      await page.click("#token-form button");
      /* the guest+host timeline: a download, or the reason there is none */
      if (!(await page.evaluate(() => !!(document.getElementById("btn-timeline") ||
          document.getElementById("no-timeline")))))
        throw new Error("the crash page says nothing of the guest+host timeline");
      const core = await downloaded(page, "#btn-core");
      if (core.length < 4096 || core.subarray(0, 4).toString("latin1") !== "\x7fELF")
        throw new Error(`the core download: ${core.length} bytes`);
      const bad = await page.evaluate(() => ({
        xss: window.__xss, csp: window.__csp,
        injected: document.querySelectorAll("main img, main script, main [onerror]").length,
      }));
      if (bad.xss || bad.csp.length || bad.injected)
        throw new Error("guest strings ran or became markup: " + JSON.stringify(bad));
      /* the hostile bundle's report: message, thread name, frame, log line */
      await page.goto(cfg.url + "/#/crash/" + encodeURIComponent(cfg.fake.id));
      await until(page, "the hostile report", () =>
        (document.getElementById("crash-frames") || {}).textContent?.length > 0, null, 20000);
      const main = await page.evaluate(() => document.getElementById("main").textContent);
      for (const x of cfg.fake.report_texts)
        if (!main.includes(x)) throw new Error("the hostile report's text is not shown as text: " + x);
      await shot(page, "crash-hostile.png");
      const bad2 = await page.evaluate(() => ({
        xss: window.__xss, csp: window.__csp,
        injected: document.querySelectorAll("main img, main script, main [onerror], main b").length,
      }));
      if (bad2.xss || bad2.csp.length || bad2.injected)
        throw new Error("hostile crash strings ran or became markup: " + JSON.stringify(bad2));
      const xssInReport = cfg.xss.log.filter((l) => log.includes(l)).length;
      return `${how}; report log shows ${xssInReport}/${cfg.xss.log.length} payloads as text`;
    });

    if (errors.length) throw new Error("page errors: " + errors.join("; "));
  } catch (e) {
    failed = true;
    if (!steps.length || steps[steps.length - 1].ok)
      steps.push({ name: "driver", ok: false, ms: 0, detail: String(e && e.stack || e) });
  } finally {
    fs.writeFileSync(path.join(cfg.out, "result.json"), JSON.stringify({ steps }, null, 1));
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
})();
