/**
 * ntfy 2.16's updating, clearing and deleting of notifications on a real
 * agent's http source: the requests from ntfy's "Updating + deleting
 * notifications" docs (sequence id in the path, the X-Sequence-ID header,
 * JSON's sequence_id, PUT …/clear, DELETE), and what an ntfy subscriber's
 * stream then carries (`sequence_id`, `message_clear`, `message_delete`),
 * also for an acknowledgement made with `hark ack` on another agent.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { curl, CurlStream, httpAddress } from "./helpers/ntfy.ts";
import { WebhookSink } from "../sinks/webhook.ts";
import { createEvent } from "../lib/event/event.ts";
import { monotonicUlid } from "../lib/event/ulid.ts";

const TOPICS = `[agent]\ntopics = ["mytopic"]\n`;
const HTTP = `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\nkeepalive = "1s"\n`;

/** `curl ARGS` to completion: exit code, HTTP status and body. */
async function curlStatus(...args: string[]): Promise<{ code: number; status: number; body: string }> {
  const { code, stdout } = await curl("-s", "-w", "\n%{http_code}", ...args);
  const cut = stdout.lastIndexOf("\n");
  return { code, status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

Deno.test("ntfy's sequence id publishes, clear and delete requests reach a subscriber as ntfy sends them", async () => {
  await using server = await startAgent({ config: loopbackConfig([], TOPICS + HTTP) });
  await using other = await startAgent({ config: loopbackConfig(server.addresses, TOPICS) });
  await server.waitForPeers([other.peerId], "mytopic");
  await other.waitForPeers([server.peerId], "mytopic");
  const base = await httpAddress(server);

  await using subscription = new CurlStream(`${base}/mytopic/json`);
  const seen = () => subscription.json();
  await waitFor(() => seen().some((message) => message.event === "open"), { message: "the stream to open" });
  // ntfy's docs: publish to /<topic>/<sequence_id>, then update with the header, then JSON.
  const first = await curlStatus("-d", "Downloading file...", `${base}/mytopic/download-123`);
  assert.equal(first.status, 200, first.body);
  assert.equal(JSON.parse(first.body).sequence_id, "download-123");
  assert.equal(
    (await curlStatus("-H", "X-Sequence-ID: download-123", "-d", "Download 50%", `${base}/mytopic`)).status,
    200,
  );
  const json = JSON.stringify({ topic: "mytopic", message: "Download complete", sequence_id: "download-123" });
  assert.equal((await curlStatus("-d", json, `${base}/`)).status, 200);
  // Cleared (read and dismissed) by another agent's user; deleted over ntfy's API.
  const ack = await other.cli(["ack", "-t", "mytopic", "download-123"]);
  assert.equal(ack.code, 0, ack.stderr);
  const deleted = await curlStatus("-X", "DELETE", `${base}/mytopic/download-123`);
  assert.equal(deleted.status, 200, deleted.body);
  assert.equal(JSON.parse(deleted.body).event, "message_delete");
  await waitFor(() => seen().some((message) => message.event === "message_delete"), { message: "message_delete" });

  const events = seen().filter((message) => message.event !== "open" && message.event !== "keepalive");
  assert.deepEqual(
    events.map(({ event, message, sequence_id, topic }) => ({ event, message, sequence_id, topic })),
    [
      { event: "message", message: "Downloading file...", sequence_id: "download-123", topic: "mytopic" },
      { event: "message", message: "Download 50%", sequence_id: "download-123", topic: "mytopic" },
      { event: "message", message: "Download complete", sequence_id: "download-123", topic: "mytopic" },
      { event: "message_clear", message: undefined, sequence_id: "download-123", topic: "mytopic" },
      { event: "message_delete", message: undefined, sequence_id: "download-123", topic: "mytopic" },
    ],
  );
  const clear = events[3];
  assert.deepEqual(Object.keys(clear).sort(), ["event", "expires", "id", "sequence_id", "time", "topic"]);
  assert.equal(clear.id, ack.stdout.trim());

  // PUT …/read is ntfy's other name for clear; a stored poll replays the whole life.
  assert.equal((await curlStatus("-X", "PUT", `${base}/mytopic/download-123/read`)).status, 200);
  const poll = await curlStatus(`${base}/mytopic/json?poll=1`);
  assert.deepEqual(
    poll.body.trim().split("\n").map((line) => JSON.parse(line).event),
    ["message", "message", "message", "message_clear", "message_delete", "message_clear"],
  );
  const bad = await curlStatus("-X", "PUT", `${base}/mytopic/not%20a%20key/clear`);
  assert.equal(bad.status, 400);
  assert.match(JSON.parse(bad.body).error, /invalid sequence id/);
});

Deno.test("a webhook sink in ntfy format updates, clears and deletes on an ntfy server (here another agent's http source)", async () => {
  await using server = await startAgent({ config: loopbackConfig([], TOPICS + HTTP), network: "own" });
  const base = await httpAddress(server);
  const sink = new WebhookSink({ url: `${base}/mytopic`, format: "ntfy", retries: 0 });
  const nextId = monotonicUlid();
  const make = (draft: Parameters<typeof createEvent>[0]) =>
    createEvent({ topic: "deploys", ...draft }, { id: nextId(), now: Date.now(), host: "ci", peer: "12D3KooWci" });
  const signal = new AbortController().signal;
  try {
    await sink.deliver(make({ title: "Deploy 5", body: "started", sequence: "deploy-5" }), { signal });
    await sink.deliver(make({ kind: "clear", sequence: "deploy-5" }), { signal });
    await sink.deliver(make({ kind: "delete", sequence: "deploy-5" }), { signal });
  } finally {
    await sink.close();
  }
  const history = await server.cli(["history", "--json", "-t", "mytopic"]);
  assert.equal(history.code, 0, history.stderr);
  const events = history.stdout.trim().split("\n").map((line) => JSON.parse(line));
  assert.deepEqual(
    events.map(({ body, sequence, kind }) => ({ body, sequence, kind })),
    [
      { body: "started", sequence: "deploy-5", kind: undefined },
      { body: "", sequence: "deploy-5", kind: "clear" },
      { body: "", sequence: "deploy-5", kind: "delete" },
    ],
  );
});
