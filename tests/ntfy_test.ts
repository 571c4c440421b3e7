/**
 * ntfy's subscribe API on a real agent, read as ntfy's users read it: the
 * curl lines from ntfy's docs, a WebSocket client, and (in web_test.ts) a
 * browser's EventSource. Events come from a second agent over the mesh.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveTools } from "./helpers/tools.ts";
import { waitFor } from "./helpers/wait.ts";
import { curl, CurlStream, httpAddress } from "./helpers/ntfy.ts";

const TOPICS = `[agent]\ntopics = ["default", "mytopic", "alerts"]\n`;
const HTTP = (extra = "") => `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\nkeepalive = "1s"\n${extra}`;

interface NtfyLine {
  id: string;
  time: number;
  expires?: number;
  event: string;
  topic: string;
  message?: string;
  title?: string;
  tags?: string[];
  priority?: number;
  click?: string;
  source?: { host: string; peer: string; host_verified?: false };
}

/** A pair of agents: `server` serves subscriptions, `publisher` publishes over the mesh. */
async function pair(extraHttp = "") {
  const server = await startAgent({ config: loopbackConfig([], TOPICS + HTTP(extraHttp)) });
  const publisher = await startAgent({ config: loopbackConfig(server.addresses, TOPICS) });
  await server.waitForPeers([publisher.peerId], "mytopic");
  await publisher.waitForPeers([server.peerId], "mytopic");
  const base = await httpAddress(server);
  return {
    server,
    publisher,
    base,
    async [Symbol.asyncDispose]() {
      await publisher[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

const isMessage = (body: string) => (line: string) => line.includes(`"message":${JSON.stringify(body)}`);

Deno.test({
  name: "ntfy subscribe: curl's JSON stream, poll, since and filters against a real agent",
  ignore: !haveTools("the ntfy subscribe test", ["curl"]),
  async fn(t) {
    await using agents = await pair();
    const { base, publisher } = agents;

    await t.step("GET /mytopic/json streams open, then each event as ntfy's message object", async () => {
      await using stream = new CurlStream(`${base}/mytopic/json`);
      const open = JSON.parse(await stream.until((line) => line.includes('"event":"open"'), "the open message"));
      assert.equal(open.topic, "mytopic");
      assert.equal(typeof open.id, "string");
      const id = await publisher.send([
        "-t",
        "mytopic",
        "--title",
        "Backup",
        "-p",
        "high",
        "--tag",
        "disk",
        "--click",
        "https://example.org/b",
        "backup done",
      ]);
      const message = JSON.parse(await stream.until(isMessage("backup done"), "the event")) as NtfyLine;
      const sent = (await publisher.waitForEvents([id]))[0];
      assert.deepEqual(message, {
        id,
        time: Math.floor(Date.parse(sent.time) / 1000),
        expires: message.expires,
        event: "message",
        topic: "mytopic",
        message: "backup done",
        // hark's own: who published it (its host as this agent judged it: both test agents are named after this machine).
        source: message.source,
        title: "Backup",
        tags: ["disk"],
        priority: 4,
        click: "https://example.org/b",
      });
      assert.ok(message.expires! > message.time, "expires after it was sent");
      assert.equal(message.source?.peer, sent.source.peer);
    });

    await t.step("keepalive messages come when nothing else does", async () => {
      await using stream = new CurlStream(`${base}/mytopic/json`);
      const line = await stream.until((candidate) => candidate.includes('"event":"keepalive"'), "a keepalive");
      assert.equal(JSON.parse(line).topic, "mytopic");
    });

    const ids: string[] = [];
    ids.push(await publisher.send(["-t", "alerts", "-p", "urgent", "--tag", "a", "--tag", "b", "disk full"]));
    ids.push(await publisher.send(["-t", "alerts", "-p", "low", "--tag", "a", "--title", "fyi", "all fine"]));
    await agents.server.waitForEvents(ids);

    await t.step('curl -s "host/alerts/json?poll=1" returns what is stored, and ends', async () => {
      const { code, stdout } = await curl("-s", `${base}/alerts/json?poll=1`);
      assert.equal(code, 0);
      const lines = stdout.trim().split("\n").map((line) => JSON.parse(line) as NtfyLine);
      assert.deepEqual(lines.map((line) => line.id), ids);
      assert.ok(lines.every((line) => line.event === "message"));
    });

    await t.step("since= takes all, a duration, unix seconds, a message id, latest and none", async () => {
      const poll = async (query: string) => {
        const { stdout } = await curl("-s", `${base}/alerts/json?poll=1&${query}`);
        return stdout.trim() === "" ? [] : stdout.trim().split("\n").map((line) => JSON.parse(line).id as string);
      };
      assert.deepEqual(await poll("since=all"), ids);
      assert.deepEqual(await poll("since=10m"), ids);
      assert.deepEqual(await poll(`since=${Math.floor(Date.now() / 1000) - 600}`), ids);
      assert.deepEqual(await poll(`since=${Math.floor(Date.now() / 1000) + 600}`), []);
      assert.deepEqual(await poll(`since=${ids[0]}`), [ids[1]]);
      // An id this agent does not hold (aged out, or from another server) gets everything stored, as in ntfy.
      assert.deepEqual(await poll("since=01ARZ3NDEKTSV4RRFFQ69G5FAV"), ids);
      assert.deepEqual(await poll("since=latest"), [ids[1]]);
      assert.deepEqual(await poll("since=none"), []);
      const bad = await curl("-s", "-w", "\n%{http_code}", `${base}/alerts/json?poll=1&since=yesterday-ish`);
      assert.match(bad.stdout, /invalid since.*\n400$/s);
    });

    await t.step("filters: priority (any of), tags (all of), title, message, id", async () => {
      const poll = async (query: string) => {
        const { stdout } = await curl("-s", `${base}/alerts/json?poll=1&${query}`);
        return stdout.trim() === "" ? [] : stdout.trim().split("\n").map((line) => JSON.parse(line).id as string);
      };
      assert.deepEqual(await poll("priority=high,urgent"), [ids[0]]);
      assert.deepEqual(await poll("priority=5,2"), ids);
      assert.deepEqual(await poll("tags=a,b"), [ids[0]]);
      assert.deepEqual(await poll("tags=a"), ids);
      assert.deepEqual(await poll("title=fyi"), [ids[1]]);
      assert.deepEqual(await poll("message=disk%20full"), [ids[0]]);
      assert.deepEqual(await poll(`id=${ids[1]}`), [ids[1]]);
      // Headers work too, as in ntfy.
      const { stdout } = await curl("-s", "-H", "X-Priority: urgent", `${base}/alerts/json?poll=1`);
      assert.deepEqual(stdout.trim().split("\n").map((line) => JSON.parse(line).id), [ids[0]]);
    });

    await t.step("comma-separated topics: one stream for several, open naming them all", async () => {
      await using stream = new CurlStream(`${base}/mytopic,alerts/json?since=all`);
      const open = JSON.parse(await stream.until((line) => line.includes('"event":"open"'), "open"));
      assert.equal(open.topic, "mytopic,alerts");
      await stream.until(isMessage("all fine"), "stored alerts");
      const id = await publisher.send(["-t", "mytopic", "on mytopic"]);
      const line = JSON.parse(await stream.until(isMessage("on mytopic"), "a live mytopic event"));
      assert.equal(line.id, id);
      assert.equal(line.topic, "mytopic");
    });

    await t.step("a phone that was away reconnects with since=<last id> and gets exactly what it missed", async () => {
      let last: string;
      {
        await using stream = new CurlStream(`${base}/mytopic/json`);
        await stream.until((line) => line.includes('"event":"open"'), "open");
        last = await publisher.send(["-t", "mytopic", "seen"]);
        await stream.until(isMessage("seen"), "the seen event");
      }
      const missed = [
        await publisher.send(["-t", "mytopic", "missed 1"]),
        await publisher.send(["-t", "mytopic", "missed 2"]),
      ];
      await agents.server.waitForEvents(missed);
      await using stream = new CurlStream(`${base}/mytopic/json?since=${last}`);
      await stream.until(isMessage("missed 2"), "the missed events");
      const live = await publisher.send(["-t", "mytopic", "live again"]);
      await stream.until(isMessage("live again"), "the live event");
      const got = stream.json().filter((line) => line.event === "message").map((line) => line.id);
      assert.deepEqual(got, [...missed, live], "each missed event once, in order, then live ones");
    });

    // A topic the agent lacks is followed on the fly (follow_topics_test.ts); an id it lacks gets everything stored.
  },
});

Deno.test({
  name: "ntfy subscribe: the SSE and raw streams in ntfy's framing",
  ignore: !haveTools("the ntfy subscribe test", ["curl"]),
  async fn() {
    await using agents = await pair();
    const { base, publisher } = agents;
    await using sse = new CurlStream(`${base}/mytopic/sse`);
    await using raw = new CurlStream(`${base}/mytopic/raw`);
    await sse.until((line) => line === "event: open", "the SSE open event");
    await waitFor(() => raw.lines.length >= 1, { message: "raw's open line" });
    assert.equal(raw.lines[0], "", "open is an empty line in raw");
    const id = await publisher.send(["-t", "mytopic", "--title", "T", "line one\nline two"]);
    const data = await sse.until((line) => line.startsWith("data: ") && line.includes(id), "the SSE message");
    const message = JSON.parse(data.slice("data: ".length));
    assert.equal(message.event, "message");
    assert.equal(message.message, "line one\nline two");
    // A message is an unnamed SSE event, so EventSource.onmessage fires for it.
    const index = sse.lines.indexOf(data);
    assert.notEqual(sse.lines[index - 1], "event: message");
    assert.equal(sse.lines[index + 1], "", "each SSE event ends with a blank line");
    await raw.until((line) => line === "line one line two", "the raw line, newlines as spaces");
    await sse.until((line) => line === "event: keepalive", "an SSE keepalive");
  },
});

Deno.test("ntfy subscribe over a WebSocket: open, stored and live messages as JSON frames", async () => {
  await using agents = await pair();
  const { base, publisher } = agents;
  const before = await publisher.send(["-t", "mytopic", "before"]);
  await agents.server.waitForEvents([before]);
  const socket = new WebSocket(`${base.replace("http", "ws")}/mytopic/ws?since=all`);
  const frames: NtfyLine[] = [];
  const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
  socket.onmessage = (message) => frames.push(JSON.parse(message.data));
  try {
    await waitFor(() => frames.some((frame) => frame.id === before), { message: "the stored event" });
    assert.equal(frames[0].event, "open");
    const live = await publisher.send(["-t", "mytopic", "-p", "urgent", "live"]);
    await waitFor(() => frames.some((frame) => frame.id === live), { message: "the live event" });
    const frame = frames.find((candidate) => candidate.id === live)!;
    assert.equal(frame.priority, 5);
    assert.equal(frame.message, "live");
  } finally {
    socket.close();
    await closed;
  }
  // poll=1 over a socket: the stored events, then the server closes.
  const polled: NtfyLine[] = [];
  const poller = new WebSocket(`${base.replace("http", "ws")}/mytopic/ws?poll=1`);
  poller.onmessage = (message) => polled.push(JSON.parse(message.data));
  await new Promise<void>((resolve) => poller.onclose = () => resolve());
  assert.deepEqual(polled.map((frame) => frame.message), ["before", "live"]);
});

Deno.test({
  name: "ntfy subscribe off loopback needs the token, in ntfy's ways; a cross-site WebSocket without it is refused",
  ignore: !haveTools("the ntfy subscribe test", ["curl"]),
  async fn() {
    const token = "s3cret-token";
    await using server = await startAgent({
      config: loopbackConfig([], TOPICS + `[[source]]\ntype = "http"\nlisten = "0.0.0.0:0"\ntoken = "${token}"\n`),
    });
    const port = (await httpAddress(server)).split(":").at(-1);
    const url = `http://127.0.0.1:${port}/mytopic/json?poll=1`;
    const id = await server.send(["-t", "mytopic", "stored"]);
    const status = async (...args: string[]) =>
      (await curl("-s", "-o", "/dev/null", "-w", "%{http_code}", ...args)).stdout;
    assert.equal(await status(url), "401");
    assert.equal(await status("-H", "Authorization: Bearer wrong", url), "401");
    const bearer = await curl("-s", "-H", `Authorization: Bearer ${token}`, url);
    assert.equal(JSON.parse(bearer.stdout.trim()).id, id);
    const basic = await curl("-s", "-u", `:${token}`, url);
    assert.equal(JSON.parse(basic.stdout.trim()).id, id);
    const auth = btoa(`Bearer ${token}`).replaceAll("=", "");
    const query = await curl("-s", `${url}&auth=${auth}`);
    assert.equal(JSON.parse(query.stdout.trim()).id, id);
    // A page on another site may open WebSockets anywhere; the Origin header gives it away, and without
    // the token it is refused (pages that carry it are tested in Chromium, tests/ntfy_browser_test.ts).
    const handshake = await curl(
      "-s",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      "-H",
      "Connection: Upgrade",
      "-H",
      "Upgrade: websocket",
      "-H",
      "Sec-WebSocket-Version: 13",
      "-H",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
      "-H",
      "Origin: https://evil.example",
      `http://127.0.0.1:${port}/mytopic/ws`,
    );
    assert.equal(handshake.stdout, "403");
  },
});

Deno.test("stopping the agent ends open subscriptions instead of waiting for them", async () => {
  const server = await startAgent({ config: loopbackConfig([], TOPICS + HTTP()) });
  const base = await httpAddress(server);
  const response = await fetch(`${base}/mytopic/json`);
  const reader = response.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /"event":"open"/);
  const started = performance.now();
  await server.stop("SIGTERM");
  // The stream ends (or errors) once the agent goes; it does not hang.
  await reader.read().then(() => {}, () => {});
  await reader.cancel().catch(() => {});
  assert.ok(performance.now() - started < 10_000);
  await server[Symbol.asyncDispose]();
});
