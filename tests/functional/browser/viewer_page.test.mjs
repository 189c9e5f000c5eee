// Browser test of the viewer page: Debian's headless Chromium (playwright-core, never a
// downloaded browser) against the real spearlet on loopback. Node's test runner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpearlet } from "./spearlet_harness.mjs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
let spearlet, dir, base, browser;

before(async () => {
  const config = {
    http: { address: "127.0.0.1", port: 0 },
    functions: [
      { name: "gap", command: ["/bin/sh", "-c", "echo first line; sleep 1.5; echo second line"],
        description: "two lines, 1.5 s apart", content_type: "text/plain" },
      { name: "fails", command: ["/bin/sh", "-c", "echo oops; exit 5"] },
    ],
  };
  spearlet = await startSpearlet(config, "spear-browser-");
  ({ dir, base } = spearlet);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
  });
});

after(async () => {
  if (browser) await browser.close();
  if (spearlet) await spearlet.stop();
});

test("page streams lines as they arrive, then the final status", async () => {
  const page = await browser.newPage();
  const failedRequests = [];
  page.on("requestfailed", (r) => failedRequests.push(r.url()));
  await page.goto(base + "/");
  await page.waitForSelector("#fn option[value=gap]", { state: "attached" });
  await page.selectOption("#fn", "gap");
  await page.selectOption("#mode", "stream");
  const t0 = Date.now();
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("output").textContent.includes("first line"));
  const firstAt = Date.now() - t0;
  // The first line is on screen while the function is still sleeping.
  assert.ok(!(await page.textContent("#output")).includes("second line"), "second line too early");
  assert.equal(await page.textContent("#final"), "");
  await page.waitForFunction(() => document.getElementById("output").textContent.includes("second line"), null, { timeout: 10000 });
  await page.waitForFunction(() => document.getElementById("final").dataset.status === "completed", null, { timeout: 10000 });
  assert.match(await page.textContent("#final"), /final: completed.*exit code 0/);
  assert.ok(firstAt < 1400, `first line took ${firstAt} ms`);
  assert.deepEqual(failedRequests.filter((u) => !u.startsWith(base)), []);
  await page.screenshot({ path: join(dir, "viewer.png") });
  await page.close();
});

test("page shows a failure's final status and lists executions", async () => {
  const page = await browser.newPage();
  await page.goto(base + "/");
  await page.waitForSelector("#fn option[value=fails]", { state: "attached" });
  await page.selectOption("#fn", "fails");
  await page.selectOption("#mode", "async");
  await page.click("#run");
  await page.waitForFunction(() => document.getElementById("final").dataset.status === "failed", null, { timeout: 10000 });
  assert.match(await page.textContent("#final"), /exit code 5/);
  assert.match(await page.textContent("#output"), /oops/);
  await page.click("#refresh");
  await page.waitForFunction(() => document.querySelectorAll("#executions tr").length >= 2);
  const rows = await page.textContent("#executions");
  assert.match(rows, /fails/);
  assert.match(rows, /gap/);
  await page.close();
});

test("watching a running async execution from the list", async () => {
  const res = await fetch(base + "/functions/execute", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ function_name: "gap", execution_mode: "async" }),
  });
  assert.equal(res.status, 202);
  const { execution_id } = await res.json();
  const page = await browser.newPage();
  await page.goto(base + "/");
  await page.fill("#watch-id", execution_id);
  await page.click("#watch");
  await page.waitForFunction(() => document.getElementById("output").textContent.includes("first line"));
  await page.waitForFunction(() => document.getElementById("final").dataset.status === "completed", null, { timeout: 10000 });
  assert.match(await page.textContent("#output"), /first line\nsecond line/);
  await page.close();
});
