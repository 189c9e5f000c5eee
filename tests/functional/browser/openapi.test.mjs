// The OpenAPI document that spearlet serves, checked by a real validator from npm
// (@apidevtools/swagger-parser: OpenAPI 3.1 schema and $ref resolution). Node's test runner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSpearlet } from "./spearlet_harness.mjs";
import SwaggerParser from "@apidevtools/swagger-parser";

let spearlet, base;

before(async () => {
  const config = {
    http: { address: "127.0.0.1", port: 0 },
    functions: [{ name: "echo", command: ["cat"] }],
  };
  spearlet = await startSpearlet(config, "spear-openapi-");
  base = spearlet.base;
});

after(async () => {
  if (spearlet) await spearlet.stop();
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
