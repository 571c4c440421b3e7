/**
 * docs/cli.md documents every field of each command's `--json` output, and
 * the output has no field it does not document: scripts can rely on both.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";

/** The backticked names in docs/cli.md's JSON output row for `command`. */
async function documented(command: string): Promise<Set<string>> {
  const page = await Deno.readTextFile(new URL("../docs/cli.md", import.meta.url));
  const section = page.slice(page.indexOf("## JSON output"));
  const row = section.split("\n").find((line) => line.startsWith(`| \`${command}\``));
  assert.ok(row, `docs/cli.md's JSON output table has a row for ${command}`);
  const output = row.split("|")[2];
  return new Set([...output.matchAll(/`([a-z_A-Z]+)`/g)].map((match) => match[1]));
}

/** Every key in `value`, nested objects and arrays of objects included (but not free-form `details`). */
function keys(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) {
    for (const item of value) keys(item, into);
  } else if (value && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) {
      into.add(key);
      // A schema is the user's JSON Schema, with keys of its own.
      if (key !== "details" && key !== "sources" && key !== "schema") keys(inner, into);
    }
  }
  return into;
}

function assertDocumented(actual: Set<string>, docs: Set<string>, command: string): void {
  const undocumented = [...actual].filter((key) => !docs.has(key));
  assert.deepEqual(undocumented, [], `${command} --json fields missing from docs/cli.md`);
}

Deno.test("every field of --json output is documented in docs/cli.md", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);
  const json = async (args: string[]) => {
    const result = await b.cli([...args, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout);
  };

  const peers = await json(["peers"]);
  assert.equal(peers.length, 1);
  assertDocumented(keys(peers), await documented("peers"), "peers");
  for (const field of ["peer", "addresses", "direction", "connection", "origin", "topics"]) {
    assert.ok(field in peers[0], `peers --json has ${field}`);
  }

  const id = await json(["id"]);
  assert.deepEqual(Object.keys(id).sort(), ["addresses", "peer"]);
  assertDocumented(keys(id), await documented("id"), "id");

  const status = await json(["status"]);
  assertDocumented(keys(status), await documented("status"), "status");
  for (
    const field of [
      "version",
      "network",
      "peer",
      "listen",
      "addresses",
      "reachability",
      "remembered_peers",
      "events",
      "history",
      "sinks",
      "sources",
    ]
  ) {
    assert.ok(field in status, `status --json has ${field}`);
  }

  const network = await json(["network", "show"]);
  assert.deepEqual(keys(network), await documented("network create"));

  const event = JSON.parse((await b.cli(["send", "--json", "hello"])).stdout);
  assertDocumented(keys(event), await documented("send"), "send");
  const history = (await b.cli(["history", "--json"])).stdout.trim().split("\n").map((line) => JSON.parse(line));
  assertDocumented(keys(history), await documented("send"), "history");

  const topics = await json(["topics"]);
  assert.ok(topics.some((topic: { topic: string }) => topic.topic === "default"));
  assertDocumented(keys(topics), await documented("topics"), "topics");

  const doctor = JSON.parse((await b.cli(["doctor", "--json"])).stdout);
  assertDocumented(keys(doctor), await documented("doctor"), "doctor");
});
