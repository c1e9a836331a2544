/* node dash_shot.js URL OUT.png: one screenshot of a console page (make docs-screenshot). */
"use strict";
const { chromium } = require("playwright-core");
(async () => {
  const b = await chromium.launch({ executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  try {
    const p = await b.newPage({ viewport: { width: 1200, height: 420 } });
    await p.goto(process.argv[2]);
    await p.waitForSelector("#fleet-body tr");
    await p.waitForTimeout(3000); // rates need two samples
    await p.screenshot({ path: process.argv[3] });
  } finally {
    await b.close();
  }
})().catch((e) => { console.error(e); process.exit(1); });
