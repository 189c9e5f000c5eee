// The OpenAPI document that spearlet serves, checked by a real validator from npm
// (@apidevtools/swagger-parser: OpenAPI 3.1 schema and $ref resolution). Node's test runner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, rmSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";

const spearletPath = process.env.SPEARLET;
let dir, proc, base;

function waitForListen(logPath, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      const text = readFileSync(logPath, "utf8");
      const m = text.match(/serving HTTP on (http:\/\/[0-9.]+:\d+)/);
      if (m) return resolve(m[1]);
      if (proc.exitCode !== null) return reject(new Error("spearlet exited: " + text));
      if (Date.now() > deadline) return reject(new Error("spearlet did not start: " + text));
      setTimeout(poll, 20);
    };
    poll();
  });
}

before(async () => {
  assert.ok(spearletPath, "SPEARLET must name the binary");
  dir = mkdtempSync(join(tmpdir(), "spear-openapi-"));
  const config = {
    http: { address: "127.0.0.1", port: 0 },
    functions: [{ name: "echo", command: ["cat"] }],
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const logPath = join(dir, "spearlet.log");
  writeFileSync(logPath, "");
  const log = openSync(logPath, "a");
  proc = spawn(spearletPath, ["--config", join(dir, "config.json")], { stdio: ["ignore", log, log] });
  base = await waitForListen(logPath, 20000);
});

after(async () => {
  if (proc && proc.exitCode === null) {
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function served(path) {
  const res = await fetch(base + path);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  return res.json();
}

test("GET /openapi.json is a valid OpenAPI 3.1 document", async () => {
  const doc = await served("/openapi.json");
  assert.match(doc.openapi, /^3\.1\./);
  const api = await SwaggerParser.validate(structuredClone(doc));
  for (const name of ["InvokeFunctionRequest", "InvokeFunctionResponse", "ExecutionResult",
                      "Error", "StreamExecutionResult"])
    assert.ok(api.components.schemas[name], name);
});

test("the SPEAR alias serves the same document", async () => {
  assert.deepEqual(await served("/api/openapi.json"), await served("/openapi.json"));
});

test("the validator is real: a broken copy of the document is refused", async () => {
  const doc = await served("/openapi.json");
  const broken = structuredClone(doc);
  broken.paths["/functions"].get.responses["200"].content["application/json"].schema =
    { $ref: "#/components/schemas/NoSuchSchema" };
  await assert.rejects(SwaggerParser.validate(broken));
  const noInfo = structuredClone(doc);
  delete noInfo.info;
  await assert.rejects(SwaggerParser.validate(noInfo));
});
