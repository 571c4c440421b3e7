/**
 * `ntfy` from npm (ffflorian/node-packages, a client of ntfy's publish API
 * that sends ntfy's X- headers and reads the reply as ntfy's message object)
 * publishing to a real agent with a token, as it would to an ntfy server:
 * title, priority, tags, Markdown, an icon, an attachment by URL and a
 * view, an http and a broadcast button. The package has no subscribe API, so
 * the message is read back the ntfy way, from the agent's `/json?poll=1`.
 */

import assert from "node:assert/strict";
import { MessagePriority, publish } from "ntfy";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";

const TOKEN = "tk_npm_client";

async function httpBase(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

Deno.test("npm's ntfy client publishes to a real agent as to an ntfy server, and its reply is ntfy's message", async () => {
  await using agent = await startAgent({
    config: loopbackConfig(
      [],
      `[agent]\ntopics = ["backups"]\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`,
    ),
  });
  const server = await httpBase(agent);
  const reply = await publish({
    server,
    topic: "backups",
    authorization: TOKEN,
    message: "Backup of **mailsrv13** failed",
    title: "Backups",
    priority: MessagePriority.HIGH,
    tags: ["warning", "mailsrv13"],
    markdown: true,
    iconURL: "https://icons.example/backup.png",
    fileURL: { url: "https://logs.example/mailsrv13.log", filename: "backup.log" },
    actions: [
      { type: "view", label: "Open logs", url: "https://logs.example/", clear: true },
      { type: "http", label: "Retry", url: "https://backup.example/retry", method: "put" },
      { type: "broadcast", label: "Snooze", extras: { cmd: "snooze" } },
    ],
  }) as Record<string, unknown>;
  const expected = {
    event: "message",
    topic: "backups",
    message: "Backup of **mailsrv13** failed",
    title: "Backups",
    priority: 4,
    tags: ["warning", "mailsrv13"],
    content_type: "text/markdown",
    icon: "https://icons.example/backup.png",
    attachment: { name: "backup.log", url: "https://logs.example/mailsrv13.log" },
    actions: [
      { id: `${reply.id}-0`, action: "view", label: "Open logs", url: "https://logs.example/", clear: true },
      {
        id: `${reply.id}-1`,
        action: "http",
        label: "Retry",
        url: "https://backup.example/retry",
        method: "PUT",
        clear: false,
      },
      { id: `${reply.id}-2`, action: "broadcast", label: "Snooze", extras: { cmd: "snooze" }, clear: false },
    ],
  };
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(reply[key], value, key);

  // What an ntfy subscriber of this agent reads.
  const response = await fetch(`${server}/backups/json?poll=1`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  const [stored] = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(stored.id, reply.id);
  for (const [key, value] of Object.entries(expected)) assert.deepEqual(stored[key], value, key);

  // A publish it cannot make is an error it throws, as against ntfy's server.
  await assert.rejects(
    publish({ server, topic: "backups", authorization: "wrong", message: "x" }),
    /Error while publishing message: Unauthorized/,
  );
});
