// Starts the spearlet binary under test (SPEARLET) on a loopback port with a config written to
// a temporary directory, and stops it by its PID: shared by the browser-driven tests.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/// Starts spearlet with `config`; resolves to {dir, proc, base, port, stop}. `base` is
/// "http://127.0.0.1:PORT" as the start-up line names it; stop() ends the process (SIGTERM,
/// awaited) and removes the directory.
export async function startSpearlet(config, prefix = "spear-browser-", timeoutMs = 20000) {
  const binary = process.env.SPEARLET;
  assert.ok(binary, "SPEARLET must name the binary");
  const dir = mkdtempSync(join(tmpdir(), prefix));
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  const logPath = join(dir, "spearlet.log");
  writeFileSync(logPath, "");
  const log = openSync(logPath, "a");
  const proc = spawn(binary, ["--config", join(dir, "config.json")], { stdio: ["ignore", log, log] });
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = readFileSync(logPath, "utf8");
    const m = text.match(/serving HTTP on (http:\/\/[0-9.]+:(\d+))/);
    if (m) return { dir, proc, base: m[1], port: Number(m[2]), stop };
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error("spearlet did not start: " + text);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}
