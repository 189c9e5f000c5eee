// Browser attacks against a default-config spearlet, in Debian's headless Chromium (issue
// 10.6): a page from another origin (another port on 127.0.0.1) tries a text/plain POST to
// /functions/execute, a form POST to the raw invoke route and a WebSocket to /stream; a
// DNS-rebound name (Chromium's resolver maps rebind.test to 127.0.0.1) tries to read the API.
// None may run a function or read a result; the same-origin page and a configured origin
// still work.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpearlet } from "./spearlet_harness.mjs";
import { createServer } from "node:http";
import { chromium } from "playwright-core";

const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
let spearlet, base, port, browser, evil, dashboard;
let attackHtml = "";

/// A server of the attack page on its own loopback port: another origin than spearlet's.
async function pageServer() {
  const server = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(attackHtml);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  server.origin = `http://127.0.0.1:${server.address().port}`;
  return server;
}

/// What the attacking page does; the results land in window.results.
const attackScript = (target) => `
<!doctype html><title>attack</title><form id="f" method="POST" target="sink"
  enctype="text/plain" action="${target}/functions/mark/invoke">
  <input name='{"function_name":"mark","x":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
window.results = {};
async function attack() {
  try {
    const r = await fetch("${target}/functions/execute", { method: "POST", mode: "no-cors",
      headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ function_name: "mark" }) });
    window.results.post = "sent:" + r.type;
  } catch (e) { window.results.post = "error:" + e.name; }
  try {
    const r = await fetch("${target}/executions");
    window.results.read = "read:" + (await r.text());
  } catch (e) { window.results.read = "error:" + e.name; }
  document.getElementById("f").submit();
  window.results.ws = await new Promise((resolve) => {
    const ws = new WebSocket("${target.replace("http", "ws")}/stream");
    const events = [];
    ws.onopen = () => { events.push("open"); ws.send(JSON.stringify({ function_name: "mark" })); };
    ws.onmessage = (m) => events.push("message:" + m.data);
    ws.onerror = () => events.push("error");
    ws.onclose = (c) => { events.push("close:" + c.code); resolve(events); };
  });
  window.results.done = true;
}
attack();
</script>`;

async function executionsOf(name) {
  const r = await fetch(`${base}/executions?function=${name}&limit=1000`);
  assert.equal(r.status, 200);
  return (await r.json()).executions;
}

before(async () => {
  // The attacker's page and a trusted dashboard, each on its own port (= own origin).
  evil = await pageServer();
  dashboard = await pageServer();
  const config = {
    http: { address: "127.0.0.1", port: 0, allowed_origins: [dashboard.origin] },
    functions: [
      { name: "mark", command: ["/bin/sh", "-c", "echo ran"] },
    ],
  };
  spearlet = await startSpearlet(config, "spear-browser-defences-");
  ({ base, port } = spearlet);
  attackHtml = attackScript(base);
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"],
  });
});

after(async () => {
  if (browser) await browser.close();
  for (const server of [evil, dashboard]) if (server) server.close();
  if (spearlet) await spearlet.stop();
});

test("a page from another origin can neither run a function nor read results", async () => {
  const page = await browser.newPage();
  await page.goto(evil.origin + "/");
  await page.waitForFunction(() => window.results.done === true, null, { timeout: 15000 });
  const results = await page.evaluate(() => window.results);
  // The WebSocket was refused at the upgrade: it never opened.
  assert.ok(!results.ws.includes("open"), JSON.stringify(results.ws));
  assert.ok(results.ws.some((e) => e.startsWith("close:")), JSON.stringify(results.ws));
  // Reading the API cross-origin fails (no CORS headers, and a 403 anyway).
  assert.match(results.read, /^error:/);
  // Let the form POST land, then check that nothing ran.
  await page.waitForTimeout(500);
  assert.deepEqual(await executionsOf("mark"), []);
  await page.close();
});

test("a DNS-rebound name gets 403 and cannot read the API", async () => {
  const page = await browser.newPage();
  const res = await page.goto(`http://rebind.test:${port}/`);
  assert.equal(res.status(), 403);
  const body = JSON.parse(await res.text());
  assert.equal(body.error.code, "forbidden");
  assert.match(body.error.message, /rebind\.test/);
  // Same-origin to the rebound name: the browser sends Host: rebind.test.
  const read = await page.evaluate(async () => {
    const r = await fetch("/executions");
    const post = await fetch("/functions/execute", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ function_name: "mark" }) });
    return [r.status, await r.text(), post.status];
  });
  assert.equal(read[0], 403);
  assert.doesNotMatch(read[1], /executions/);
  assert.equal(read[2], 403);
  assert.deepEqual(await executionsOf("mark"), []);
  await page.close();
});

test("the same-origin page still invokes and streams", async () => {
  const page = await browser.newPage();
  await page.goto(base + "/");
  const out = await page.evaluate(async () => {
    const r = await fetch("/functions/execute", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify({ function_name: "mark" }) });
    const body = await r.json();
    const events = await new Promise((resolve) => {
      const ws = new WebSocket(location.origin.replace("http", "ws") + "/stream");
      const seen = [];
      ws.onopen = () => ws.send(JSON.stringify({ function_name: "mark" }));
      ws.onmessage = (m) => seen.push(JSON.parse(m.data).type);
      ws.onclose = () => resolve(seen);
    });
    return { status: r.status, output: body.result.output.data, events };
  });
  assert.equal(out.status, 200);
  assert.equal(out.output, "ran\n");
  assert.equal(out.events.at(-1), "final");
  assert.equal((await executionsOf("mark")).length, 2);
  await page.close();
});

const countModes = (runs) => ({
  sync: runs.filter((r) => r.execution_mode === "sync").length,
  stream: runs.filter((r) => r.execution_mode === "stream").length,
});

test("a configured origin may open WebSockets but not send text/plain JSON", async () => {
  const before = countModes(await executionsOf("mark"));
  const page = await browser.newPage();
  await page.goto(dashboard.origin + "/");
  await page.waitForFunction(() => window.results.done === true, null, { timeout: 15000 });
  const results = await page.evaluate(() => window.results);
  // The WebSocket (not subject to CORS) ran the function and streamed its final message.
  assert.equal(results.ws[0], "open");
  assert.ok(results.ws.some((e) => e.includes('"type":"final"')), JSON.stringify(results.ws));
  await page.waitForTimeout(500);
  // One stream run (the WebSocket) and one sync run: the form POST to the raw invoke route
  // (the origin is trusted); the no-cors text/plain POST to the JSON route got 415.
  assert.deepEqual(countModes(await executionsOf("mark")),
                   { sync: before.sync + 1, stream: before.stream + 1 });
  await page.close();
});
