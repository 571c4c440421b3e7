import assert from "node:assert/strict";
import { HarkError } from "../errors.ts";
import { createEvent, type EventDraft, type HarkEvent } from "../event/event.ts";
import { monotonicUlid } from "../event/ulid.ts";
import { HttpSource, type HttpSourceInit, isLoopback, parseListen } from "./http.ts";
import type { Feed } from "./source.ts";

/** A publish that records drafts and builds real (validated) events, or refuses when told to. */
function fakePublish() {
  const drafts: EventDraft[] = [];
  const nextId = monotonicUlid();
  const state: { refuse?: HarkError } = {};
  const publish = (draft: EventDraft): Promise<HarkEvent> => {
    drafts.push(structuredClone(draft));
    if (state.refuse) return Promise.reject(state.refuse);
    try {
      return Promise.resolve(createEvent(draft, { id: nextId(), now: Date.now(), host: "test", peer: "12D3KooWtest" }));
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return { drafts, publish, state };
}

/** A feed with no events, for publish tests: subscriptions are tested against real agents (tests/ntfy_test.ts). */
export function emptyFeed(topics: string[] = ["mytopic", "default", "alerts"]): Feed {
  const followed = new Set(topics);
  return {
    topics: followed,
    retentionMs: 86_400_000,
    // As the agent does: a topic followed is one more the feed has.
    follow: (more) => {
      for (const topic of more) followed.add(topic);
      return Promise.resolve();
    },
    read: () => ({ pages: { next: () => Promise.resolve({ events: [], last: true, release() {} }) }, stop() {} }),
    has: () => false,
  };
}

async function startSource(init: Partial<HttpSourceInit> = {}) {
  const fake = fakePublish();
  const source = new HttpSource({
    listen: "127.0.0.1:0",
    maxBodyBytes: 64 * 1024,
    publish: fake.publish,
    feed: emptyFeed(),
    ...init,
  });
  await source.start();
  const port = Number(source.address.split(":").at(-1));
  return { source, port, ...fake, [Symbol.asyncDispose]: () => source.stop() };
}

/**
 * Runs curl with exactly these arguments. The environment is cleared so a
 * proxy variable or a ~/.curlrc cannot change what is sent.
 */
async function curl(...args: string[]): Promise<string> {
  const output = await new Deno.Command("curl", {
    args,
    clearEnv: true,
    stdin: "null",
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 0, `curl ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`);
  return new TextDecoder().decode(output.stdout);
}

/** curl plus `-w` to learn the status: returns the status and the parsed JSON reply. */
async function curlStatus(...args: string[]): Promise<{ status: number; json: Record<string, unknown> }> {
  const text = await curl("-s", "-w", "\n%{http_code}", ...args);
  const cut = text.lastIndexOf("\n");
  return { status: Number(text.slice(cut + 1)), json: JSON.parse(text.slice(0, cut)) };
}

function assertEvent(reply: string, draft: EventDraft): HarkEvent {
  const event = JSON.parse(reply) as HarkEvent;
  assert.equal(event.topic, draft.topic);
  assert.equal(event.body, draft.body);
  assert.equal(event.title, draft.title ?? "");
  assert.equal(event.priority, draft.priority ?? 3);
  assert.deepEqual(event.tags, draft.tags ?? []);
  assert.equal(event.click, draft.click);
  assert.match(event.id, /^[0-9A-Z]{26}$/);
  return event;
}

Deno.test("HttpSource accepts ntfy's curl examples as written in its docs", async (t) => {
  await using ctx = await startSource();
  const { port, drafts } = ctx;
  const host = `localhost:${port}`;
  const cases: { name: string; args: string[]; draft: EventDraft }[] = [
    {
      name: "plain body",
      args: ["-d", "Backup successful 😀", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "Backup successful 😀" },
    },
    {
      name: "title, priority and tags headers",
      args: [
        "-H",
        "Title: Dogs are better than cats",
        "-H",
        "Priority: urgent",
        "-H",
        "Tags: warning,skull",
        "-d",
        "Remote access detected. Act right away.",
        `${host}/phil_alerts`,
      ],
      draft: {
        topic: "phil_alerts",
        body: "Remote access detected. Act right away.",
        title: "Dogs are better than cats",
        priority: 5,
        tags: ["warning", "skull"],
      },
    },
    {
      name: "click header",
      args: ["-H", "Click: https://home.nest.com/", "-d", "Motion detected", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "Motion detected", click: "https://home.nest.com/" },
    },
    {
      name: "short header aliases",
      args: ["-H", "t: Short", "-H", "p: 2", "-H", "ta: a, b,,c", "-d", "x", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "x", title: "Short", priority: 2, tags: ["a", "b", "c"] },
    },
    {
      name: "X- headers and a UTF-8 title",
      args: ["-H", "X-Title: Grüße 😀", "-H", "X-Priority: high", "-H", "X-Tags: tada", "-d", "ok", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "ok", title: "Grüße 😀", priority: 4, tags: ["tada"] },
    },
    {
      name: "RFC 2047 encoded title",
      args: ["-H", "Title: =?UTF-8?B?R3LDvMOfZQ==?=", "-d", "ok", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "ok", title: "Grüße" },
    },
    {
      name: "JSON publish to /",
      args: ["-d", '{"topic":"mytopic","message":"hi","title":"t","priority":4,"tags":["a"]}', host],
      draft: { topic: "mytopic", body: "hi", title: "t", priority: 4, tags: ["a"] },
    },
    {
      name: "JSON publish with click and a priority name",
      args: ["-d", '{"topic":"MyTopic","message":"hi","priority":"min","click":"https://example.org/"}', host],
      draft: { topic: "MyTopic", body: "hi", priority: 1, click: "https://example.org/" },
    },
    {
      name: "PUT",
      args: ["-X", "PUT", "-d", "put body", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "put body" },
    },
    {
      name: "query parameters",
      args: [
        "-d",
        "Look ma, with auth",
        `${host}/mytopic?title=Query%20title&priority=high&tags=a,b&click=https://x.org/`,
      ],
      draft: {
        topic: "mytopic",
        body: "Look ma, with auth",
        title: "Query title",
        priority: 4,
        tags: ["a", "b"],
        click: "https://x.org/",
      },
    },
    {
      name: "GET /publish with ?message=",
      args: [`${host}/mytopic/publish?message=Hello%5Cnworld&t=Hi&p=max`],
      draft: { topic: "mytopic", body: "Hello\nworld", title: "Hi", priority: 5 },
    },
    {
      name: "GET /trigger without a message",
      args: [`${host}/mytopic/trigger`],
      draft: { topic: "mytopic", body: "triggered" },
    },
    {
      name: "POST /send",
      args: ["-X", "POST", `${host}/mytopic/send?m=sent`],
      draft: { topic: "mytopic", body: "sent" },
    },
    {
      name: "upper-case topic keeps its case, as ntfy's",
      args: ["-d", "x", `${host}/Phil_Alerts-2`],
      draft: { topic: "Phil_Alerts-2", body: "x" },
    },
  ];
  for (const { name, args, draft } of cases) {
    await t.step(name, async () => {
      const before = drafts.length;
      const reply = await curl(...args);
      assert.equal(drafts.length, before + 1);
      assert.deepEqual(drafts.at(-1), draft);
      assertEvent(reply, draft);
    });
  }
  assert.equal(ctx.source.stats().accepted, cases.length);
});

Deno.test("HttpSource refuses bad requests with ntfy-style JSON errors", async (t) => {
  await using ctx = await startSource({ maxBodyBytes: 100, follow: ["phone-*"] });
  const host = `127.0.0.1:${ctx.port}`;
  const cases: { name: string; args: string[]; status: number; error: RegExp }[] = [
    { name: "bad topic", args: ["-d", "x", `${host}/bad%20topic!`], status: 400, error: /invalid topic/ },
    { name: "topic too long", args: ["-d", "x", `${host}/${"a".repeat(65)}`], status: 400, error: /invalid topic/ },
    {
      name: "topic with a leading dot",
      args: ["-d", "x", `${host}/.lead`],
      status: 400,
      error: /invalid topic ".lead"/,
    },
    {
      name: "topic with a trailing dot",
      args: ["-d", "x", `${host}/trail.`],
      status: 400,
      error: /invalid topic "trail."/,
    },
    { name: "topic with two dots", args: ["-d", "x", `${host}/a..b`], status: 400, error: /invalid topic "a..b"/ },
    {
      name: "JSON topic with two dots",
      args: ["-d", '{"topic":"a..b","message":"x"}', host],
      status: 400,
      error: /invalid topic "a..b"/,
    },
    { name: "oversized body", args: ["-d", "x".repeat(101), `${host}/mytopic`], status: 413, error: /larger than 100/ },
    {
      name: "oversized chunked body",
      args: ["-H", "Transfer-Encoding: chunked", "-d", "x".repeat(5000), `${host}/mytopic`],
      status: 413,
      error: /larger than 100/,
    },
    { name: "bad priority", args: ["-H", "Priority: 9", "-d", "x", `${host}/mytopic`], status: 400, error: /priority/ },
    { name: "bad JSON", args: ["-d", "{nope", host], status: 400, error: /JSON object/ },
    { name: "JSON without topic", args: ["-d", '{"message":"x"}', host], status: 400, error: /topic/ },
    { name: "delay", args: ["-H", "Delay: 30m", "-d", "x", `${host}/mytopic`], status: 400, error: /delay/ },
    { name: "tag with a space", args: ["-H", "Tags: a b", "-d", "x", `${host}/mytopic`], status: 400, error: /tag/ },
    {
      name: "subscribe to a topic outside follow",
      args: [`${host}/other/json`],
      status: 403,
      error: /follow = \["phone-\*"\].*agent\.topics/,
    },
    { name: "subscribe to an agents' own topic", args: [`${host}/hark.custom/json`], status: 403, error: /hark\.\*/ },
    { name: "GET a topic", args: [`${host}/mytopic`], status: 404, error: /mytopic\/json/ },
    { name: "DELETE", args: ["-X", "DELETE", `${host}/mytopic`], status: 405, error: /not allowed/ },
    {
      name: "browser request",
      args: ["-H", "Origin: https://evil.example", "-d", "x", `${host}/mytopic`],
      status: 403,
      error: /web pages/,
    },
    {
      name: "non-loopback Host",
      args: ["-H", "Host: evil.example", "-d", "x", `${host}/mytopic`],
      status: 403,
      error: /loopback/,
    },
  ];
  for (const { name, args, status, error } of cases) {
    await t.step(name, async () => {
      const reply = await curlStatus(...args);
      assert.equal(reply.status, status);
      assert.equal(reply.json.http, status);
      assert.equal(Math.floor((reply.json.code as number) / 100), status);
      assert.match(reply.json.error as string, error);
    });
  }
  const stats = ctx.source.stats();
  assert.equal(stats.accepted, 0);
  assert.deepEqual(stats.rejected, { 400: 11, 403: 4, 404: 1, 405: 1, 413: 2 });
  assert.match(stats.last_error as string, /^403 /);
});

Deno.test("HttpSource maps publish refusals to 429, 403 and 400", async (t) => {
  await using ctx = await startSource();
  const url = `127.0.0.1:${ctx.port}/mytopic`;
  const cases = [
    {
      refuse: new HarkError("rate limit: the network accepts 10 events/s (bursts of 20) from one agent; try again"),
      status: 429,
    },
    { refuse: new HarkError('this agent (12D3KooW) may not publish on "mytopic": it is not in …'), status: 403 },
    { refuse: new HarkError("something else"), status: 400 },
  ];
  for (const { refuse, status } of cases) {
    await t.step(`${status}`, async () => {
      ctx.state.refuse = refuse;
      const reply = await curlStatus("-d", "x", url);
      assert.equal(reply.status, status);
      assert.equal(reply.json.error, refuse.message);
    });
  }
});

Deno.test("HttpSource enforces its token", async (t) => {
  await using ctx = await startSource({ token: "tk_secret" });
  const url = `localhost:${ctx.port}/mytopic`;
  const basic = btoa(":tk_secret");
  const authParam = btoa("Bearer tk_secret").replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
  const cases = [
    { name: "no token", args: ["-d", "x", url], status: 401 },
    { name: "wrong token", args: ["-H", "Authorization: Bearer tk_wrong", "-d", "x", url], status: 401 },
    { name: "prefix of the token", args: ["-H", "Authorization: Bearer tk_secre", "-d", "x", url], status: 401 },
    { name: "bearer token", args: ["-H", "Authorization: Bearer tk_secret", "-d", "x", url], status: 200 },
    { name: "basic auth with the token as password", args: ["-u", ":tk_secret", "-d", "x", url], status: 200 },
    { name: "basic header", args: ["-H", `Authorization: Basic ${basic}`, "-d", "x", url], status: 200 },
    { name: "?auth= parameter", args: ["-d", "x", `${url}?auth=${authParam}`], status: 200 },
  ];
  for (const { name, args, status } of cases) {
    await t.step(name, async () => {
      const reply = await curlStatus(...args);
      assert.equal(reply.status, status);
      if (status === 200) assert.equal(reply.json.body, "x");
      else assert.match(reply.json.error as string, /unauthorized/);
    });
  }
  assert.equal(ctx.drafts.length, 4);
});

Deno.test("HttpSource.start() refuses a non-loopback address without a token", async () => {
  const { publish } = fakePublish();
  for (const listen of ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"]) {
    const source = new HttpSource({ listen, maxBodyBytes: 1024, publish, feed: emptyFeed() });
    await assert.rejects(source.start(), (error: Error) => {
      assert.ok(error instanceof HarkError);
      assert.match(error.message, /non-loopback address needs a token/);
      return true;
    });
    assert.equal(source.stats().running, false);
  }
});

Deno.test("HttpSource.start() binds a non-loopback address when a token is set", async () => {
  await using ctx = await startSource({ listen: "0.0.0.0:0", token: "tk_secret" });
  assert.equal(ctx.source.stats().running, true);
  const reply = await curlStatus("-H", "Authorization: Bearer tk_secret", "-d", "x", `127.0.0.1:${ctx.port}/mytopic`);
  assert.equal(reply.status, 200);
});

Deno.test("HttpSource.start() names the listen setting when the port is in use", async () => {
  await using first = await startSource();
  const { publish } = fakePublish();
  const second = new HttpSource({ listen: `127.0.0.1:${first.port}`, maxBodyBytes: 1024, publish, feed: emptyFeed() });
  await assert.rejects(second.start(), (error: Error) => {
    assert.ok(error instanceof HarkError);
    assert.match(
      error.message,
      new RegExp(`127\\.0\\.0\\.1:${first.port} is in use; set listen = .* in \\[\\[source\\]\\]`),
    );
    return true;
  });
});

Deno.test("HttpSource.stop() is idempotent and releases the port", async () => {
  const { source, port } = await startSource();
  await source.start();
  assert.equal(source.stats().listen, `127.0.0.1:${port}`);
  await Promise.all([source.stop(), source.stop()]);
  await source.stop();
  assert.equal(source.stats().running, false);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  listener.close();
});

Deno.test("parseListen() and isLoopback() read listen addresses", async (t) => {
  const cases = [
    { listen: "127.0.0.1:8089", hostname: "127.0.0.1", port: 8089, loopback: true },
    { listen: "[::1]:9000", hostname: "::1", port: 9000, loopback: true },
    { listen: "localhost:0", hostname: "localhost", port: 0, loopback: true },
    { listen: "0.0.0.0:8089", hostname: "0.0.0.0", port: 8089, loopback: false },
    { listen: "[::]:8089", hostname: "::", port: 8089, loopback: false },
  ];
  for (const { listen, hostname, port, loopback } of cases) {
    await t.step(listen, () => {
      assert.deepEqual(parseListen(listen), { hostname, port });
      assert.equal(isLoopback(hostname), loopback);
    });
  }
  for (const bad of ["8089", "127.0.0.1", "127.0.0.1:70000", "::1:8089", "host:port"]) {
    await t.step(`rejects ${bad}`, () => assert.throws(() => parseListen(bad), /invalid listen/));
  }
});
