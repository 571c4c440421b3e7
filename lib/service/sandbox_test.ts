import assert from "node:assert/strict";
import { sandboxPaths } from "./sandbox.ts";
import { parseConfig, resolveConfig } from "../config/config.ts";

function config(text: string) {
  return resolveConfig(parseConfig(text, "test.toml"), { host: "h", stateDir: "/home/ann/st" });
}

Deno.test("sandboxPaths() opens what the config's sinks and sources write", async (t) => {
  await t.step("the default sinks write only into the state dir", () => {
    assert.deepEqual(sandboxPaths(config(""), "/home/ann/st"), { writable: [], sharedTmp: [] });
  });
  await t.step("a file sink, a fifo in /tmp and a watched file in /var/tmp", () => {
    const paths = sandboxPaths(
      config(`
[[sink]]
type = "file"
path = "/srv/events/all.jsonl"

[[source]]
type = "fifo"
path = "/tmp/alert"

[[source]]
type = "watch"
path = "/var/tmp/app.log"
rules = [{ pattern = "ERROR" }]
`),
      "/home/ann/st",
    );
    assert.deepEqual(paths.writable, ["/srv/events", "/tmp"]);
    assert.deepEqual(paths.sharedTmp, ["/tmp/alert", "/var/tmp/app.log"]);
  });
  await t.step("relative paths are left out", () => {
    const paths = sandboxPaths(config(`[[sink]]\ntype = "file"\npath = "events.jsonl"\n`), "/home/ann/st");
    assert.deepEqual(paths, { writable: [], sharedTmp: [] });
  });
});
