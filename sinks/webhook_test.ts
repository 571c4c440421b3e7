import assert from "node:assert/strict";
import { CircuitOpenError, parseRetryAfter, WebhookError, WebhookSink, type WebhookSinkInit } from "./webhook.ts";
import { createEvent, type EventDraft, type HarkEvent } from "../lib/event/event.ts";
import { ConfigError } from "../lib/errors.ts";
import { monotonicUlid } from "../lib/event/ulid.ts";
import { VERSION } from "../lib/version.ts";

const NOW = Date.UTC(2026, 10, 21, 23, 59, 59, 123);
const ulid = monotonicUlid(() => NOW);
const decoder = new TextDecoder("utf-8", { fatal: true });

function event(draft: EventDraft = {}): HarkEvent {
  return createEvent({ body: "b", ...draft }, { id: ulid(), now: NOW, host: "h", peer: "12D3KooWTest" });
}

/** Title and body that try every trick a chat service or receiver might fall for. */
const HOSTILE: EventDraft = {
  topic: "alerts",
  title: 'Say "hi" <script>alert(1)</script> & @everyone\nsecond\u0000 *bold* [x](https://evil.example)',
  body: 'Line 1 "quoted" <b>&amp;</b>\r\n@here <@123456> <!channel> \u0000nul \u001b[31mred\u202e',
  priority: 4,
  tags: ["ci", "failed"],
  click: "https://ci.example.org/812?a=1&b=<2>|x",
};

interface Received {
  method: string;
  url: URL;
  headers: Headers;
  body: Uint8Array;
}

/** `hang()` answers only when the test ends, long after the client gave up. */
type Handler = (
  request: Request,
  index: number,
  hang: () => Promise<Response>,
) => Response | Promise<Response>;

/**
 * A real HTTP server on loopback that records every request. Handlers that
 * hang are released when the test ends, before the server shuts down.
 */
class TestServer implements AsyncDisposable {
  readonly requests: Received[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #release = Promise.withResolvers<void>();

  constructor(handler: Handler = () => new Response("ok")) {
    this.#server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, async (request) => {
      const body = new Uint8Array(await request.arrayBuffer());
      const index =
        this.requests.push({ method: request.method, url: new URL(request.url), headers: request.headers, body }) - 1;
      return await handler(request, index, () => this.#hang());
    });
  }

  get port(): number {
    return this.#server.addr.port;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  async #hang(): Promise<Response> {
    await this.#release.promise;
    return new Response("too late");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#release.resolve();
    await this.#server.shutdown();
  }
}

/** A sink with no waiting between attempts unless a test asks for it. */
function sink(init: WebhookSinkInit): WebhookSink {
  return new WebhookSink({ random: () => 0, ...init });
}

const signal = new AbortController().signal;

async function rejects(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new assert.AssertionError({ message: "expected a rejection" });
}

Deno.test("WebhookSink.deliver() sends each format's body byte for byte", async (t) => {
  await using server = new TestServer();
  const hostile = event(HOSTILE);
  const cases: { name: string; format: WebhookSinkInit["format"]; path?: string; event: HarkEvent; body: string }[] = [
    { name: "json is the event as is", format: "json", event: hostile, body: JSON.stringify(hostile) },
    {
      name: "slack escapes & < > and bolds the title",
      format: "slack",
      event: hostile,
      body: '{"text":"*Say \\"hi\\" &lt;script&gt;alert(1)&lt;/script&gt; &amp; @everyone second\uFFFD *bold* ' +
        "[x](https://evil.example)*\\n" +
        'Line 1 \\"quoted\\" &lt;b&gt;&amp;amp;&lt;/b&gt;\\n@here &lt;@123456&gt; &lt;!channel&gt; \uFFFDnul ' +
        "\uFFFD[31mred\uFFFD\\n" +
        '<https://ci.example.org/812?a=1&amp;b=%3C2%3E%7Cx>"}',
    },
    {
      name: "discord escapes markdown, neutralises mentions and allows none",
      format: "discord",
      event: hostile,
      body:
        '{"content":"**Say \\"hi\\" \\\\<script\\\\>alert\\\\(1\\\\)\\\\</script\\\\> & @\u200beveryone second\uFFFD ' +
        "\\\\*bold\\\\* \\\\[x\\\\]\\\\(https://evil.example\\\\)**\\n" +
        'Line 1 \\"quoted\\" \\\\<b\\\\>&amp;\\\\</b\\\\>\\n@\u200bhere \\\\<@\u200b123456\\\\> \\\\<!channel\\\\> ' +
        "\uFFFDnul \uFFFD\\\\[31mred\uFFFD\\n" +
        '<https://ci.example.org/812?a=1&b=%3C2%3E|x>","allowed_mentions":{"parse":[]}}',
    },
    {
      name: "ntfy takes the topic from the URL and posts to the root",
      format: "ntfy",
      path: "/mytopic",
      event: hostile,
      body: '{"topic":"mytopic","title":"Say \\"hi\\" <script>alert(1)</script> & @everyone second\uFFFD *bold* ' +
        '[x](https://evil.example)","message":"Line 1 \\"quoted\\" <b>&amp;</b>\\n@here <@123456> <!channel> ' +
        '\uFFFDnul \uFFFD[31mred\uFFFD","priority":4,"tags":["ci","failed"],' +
        '"click":"https://ci.example.org/812?a=1&b=%3C2%3E|x"}',
    },
    {
      name: "ntfy without a topic in the URL uses the event's, and a lone title as the message",
      format: "ntfy",
      path: "",
      event: event({ topic: "builds", title: "Only a title", body: "" }),
      body: '{"topic":"builds","message":"Only a title","priority":3}',
    },
    {
      name: "ntfy passes the action buttons on",
      format: "ntfy",
      path: "/alerts",
      event: event({ body: "hot", actions: [{ action: "view", label: "Open", url: "https://x.example/" }] }),
      body: '{"topic":"alerts","message":"hot","priority":3,' +
        '"actions":[{"action":"view","label":"Open","url":"https://x.example/"}]}',
    },
    {
      name: "ntfy passes Markdown, the icon, the attachment by URL and a broadcast on",
      format: "ntfy",
      path: "/alerts",
      event: event({
        body: "**hot**",
        markdown: true,
        icon: "https://x.example/i.png",
        attachment: { name: "cam.jpg", url: "https://x.example/cam.jpg", type: "image/jpeg", size: 10 },
        actions: [{ action: "broadcast", label: "Snap", extras: { cmd: "pic" } }],
      }),
      body: '{"topic":"alerts","message":"**hot**","priority":3,' +
        '"actions":[{"action":"broadcast","label":"Snap","extras":{"cmd":"pic"}}],' +
        '"markdown":true,"icon":"https://x.example/i.png","attach":"https://x.example/cam.jpg","filename":"cam.jpg"}',
    },
    {
      name: "slack with a long body of markup characters escapes every one",
      format: "slack",
      event: event({ body: "<".repeat(4096) }),
      body: `{"text":"${"&lt;".repeat(4096)}"}`,
    },
    {
      name: "json keeps NUL and newlines as JSON escapes",
      format: "json",
      event: event({ body: "a\u0000b\nc" }),
      body: "",
    },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      const webhook = sink({ url: server.url(c.path ?? "/hook"), format: c.format });
      await webhook.deliver(c.event, { signal });
      const request = server.requests.at(-1)!;
      const text = decoder.decode(request.body);
      const expected = c.body || JSON.stringify(c.event);
      assert.equal(text, expected);
      assert.equal(request.method, "POST");
      assert.equal(request.url.pathname, c.format === "ntfy" ? "/" : "/hook");
      if (c.format === "json") assert.deepEqual(JSON.parse(text), c.event);
      await webhook.close();
    });
  }
});

Deno.test("WebhookSink.deliver() cuts Discord content to 2000 characters without splitting an escape", async (t) => {
  await using server = new TestServer();
  const title = "@".repeat(256);
  const head = `**${"@\u200b".repeat(256)}**`;
  const link = "<https://x.example/>";
  const cases: { name: string; body: string; content: string }[] = [
    {
      name: "plain text",
      body: "a".repeat(4096),
      content: `${head}\n${"a".repeat(1461)}…\n${link}`,
    },
    {
      name: "escaped characters",
      body: "*".repeat(4096),
      content: `${head}\n${"\\*".repeat(730)}…\n${link}`,
    },
    {
      name: "surrogate pairs",
      body: "😀".repeat(1024),
      content: `${head}\n${"😀".repeat(730)}…\n${link}`,
    },
    {
      name: "a body that fits exactly",
      body: "a".repeat(1462),
      content: `${head}\n${"a".repeat(1462)}\n${link}`,
    },
  ];
  const webhook = sink({ url: server.url(), format: "discord" });
  for (const c of cases) {
    await t.step(c.name, async () => {
      await webhook.deliver(event({ title, body: c.body, click: "https://x.example/" }), { signal });
      const { content } = JSON.parse(decoder.decode(server.requests.at(-1)!.body));
      assert.equal(content, c.content);
      assert.ok(content.length <= 2000);
    });
  }
  await t.step("a link that does not fit is left out", async () => {
    const click = `https://x.example/${"p".repeat(2000)}`;
    await webhook.deliver(event({ title: "t", body: "b", click }), { signal });
    assert.equal(JSON.parse(decoder.decode(server.requests.at(-1)!.body)).content, "**t**\nb");
  });
  await webhook.close();
});

Deno.test("WebhookSink.deliver() sends hark's headers and the custom ones", async () => {
  await using server = new TestServer();
  const webhook = sink({
    url: `http://bot:s3cr%40t@127.0.0.1:${server.port}/hook?token=abc`,
    headers: { "X-Custom": "yes", "X-Hark-Id": "forged", "content-type": "text/plain" },
  });
  const e = event({ topic: "builds" });
  await webhook.deliver(e, { signal });
  const { headers, url } = server.requests[0];
  assert.equal(headers.get("X-Hark-Id"), e.id);
  assert.equal(headers.get("X-Hark-Topic"), "builds");
  assert.equal(headers.get("Content-Type"), "application/json");
  assert.equal(headers.get("User-Agent"), `hark/${VERSION}`);
  assert.equal(headers.get("X-Custom"), "yes");
  assert.equal(headers.get("Authorization"), `Basic ${btoa("bot:s3cr@t")}`);
  assert.equal(headers.get("X-Hark-Signature"), null);
  assert.equal(headers.get("Idempotency-Key"), e.id);
  assert.equal(headers.get("X-Hark-Repeat"), null, "only a possible repeat is marked");
  assert.equal(url.pathname + url.search, "/hook?token=abc");
  await webhook.deliver(e, { signal, repeat: true });
  assert.equal(server.requests[1].headers.get("X-Hark-Repeat"), "1");
  assert.equal(server.requests[1].headers.get("Idempotency-Key"), e.id);
  await webhook.close();
});

Deno.test("WebhookSink.deliver() signs the exact body with HMAC-SHA256", async (t) => {
  await using server = new TestServer();
  const secret = "correct horse battery staple";
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(secret),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["verify"],
  );
  for (const format of ["json", "slack", "discord", "ntfy"] as const) {
    await t.step(format, async () => {
      const webhook = sink({ url: server.url(), format, secret });
      await webhook.deliver(event(HOSTILE), { signal });
      const { headers, body } = server.requests.at(-1)!;
      const header = headers.get("X-Hark-Signature")!;
      assert.match(header, /^sha256=[0-9a-f]{64}$/);
      const mac = Uint8Array.from(header.slice(7).match(/../g)!, (pair) => parseInt(pair, 16));
      assert.ok(await crypto.subtle.verify("HMAC", key, mac, body as Uint8Array<ArrayBuffer>));
      const tampered = body.slice();
      tampered[0] ^= 1;
      assert.ok(!(await crypto.subtle.verify("HMAC", key, mac, tampered)));
      await webhook.close();
    });
  }
});

Deno.test("WebhookSink.deliver() retries", async (t) => {
  const cases: { name: string; statuses: number[]; requests: number; delivered: boolean; status: number }[] = [
    { name: "500 twice, then success", statuses: [500, 500, 200], requests: 3, delivered: true, status: 200 },
    { name: "408, then success", statuses: [408, 204], requests: 2, delivered: true, status: 204 },
    {
      name: "503 until the retries run out",
      statuses: [503, 503, 503, 503, 503],
      requests: 4,
      delivered: false,
      status: 503,
    },
    // The receiver answered, about this event: the router gives it up instead of blocking the next ones.
    {
      name: "500 until the retries run out",
      statuses: [500, 500, 500, 500, 500],
      requests: 4,
      delivered: false,
      status: 500,
    },
    {
      name: "502 until the retries run out",
      statuses: [502, 502, 502, 502],
      requests: 4,
      delivered: false,
      status: 502,
    },
    { name: "not 400", statuses: [400, 200], requests: 1, delivered: false, status: 400 },
    { name: "not 404", statuses: [404, 200], requests: 1, delivered: false, status: 404 },
    { name: "not a redirect", statuses: [302, 200], requests: 1, delivered: false, status: 302 },
  ];
  for (const c of cases) {
    await t.step(c.name, async () => {
      await using server = new TestServer((_request, index) =>
        new Response(c.statuses[index] === 204 ? null : `answer ${index}`, {
          status: c.statuses[index],
          headers: { Location: "http://elsewhere/" },
        })
      );
      const webhook = sink({ url: server.url(), retries: 3 });
      const outcome = webhook.deliver(event(), { signal });
      if (c.delivered) {
        await outcome;
      } else {
        const error = await rejects(outcome);
        assert.ok(error instanceof WebhookError);
        assert.equal(error.status, c.status);
        // Retryable later only while the receiver is unavailable (a proxy's or an overloaded server's answer).
        assert.equal(error.retryable, c.status === 502 || c.status === 503, "retryable");
        assert.match(
          error.message,
          new RegExp(`^webhook http://127\\.0\\.0\\.1:${server.port}/… answered ${c.status}`),
        );
      }
      assert.equal(server.requests.length, c.requests);
      const state = webhook.state();
      assert.equal(state.delivered, c.delivered ? 1 : 0);
      assert.equal(state.failed, c.delivered ? 0 : 1);
      assert.equal(state.last_status, c.status);
      await webhook.close();
    });
  }
});

Deno.test("WebhookSink.deliver() names the status and the URL without credentials, path or query", async () => {
  await using server = new TestServer(() => new Response("bad payload\n\u001b[2J", { status: 400 }));
  const webhook = sink({ url: `http://user:hunter2@127.0.0.1:${server.port}/services/T0/B0/sekrit?token=abc` });
  const error = await rejects(webhook.deliver(event(), { signal }));
  assert.equal(error.message, `webhook http://127.0.0.1:${server.port}/… answered 400 Bad Request: bad payload [2J`);
  for (const text of [error.message, webhook.name, JSON.stringify(webhook.state())]) {
    for (const secret of ["hunter2", "user", "sekrit", "services", "token", "abc"]) {
      assert.ok(!text.includes(secret), text);
    }
  }
  await webhook.close();
});

Deno.test("WebhookSink.deliver() reports a refused connection without the URL", async () => {
  const server = new TestServer();
  const port = server.port;
  await server[Symbol.asyncDispose]();
  const webhook = sink({ url: `http://127.0.0.1:${port}/sekrit?token=abc`, retries: 1 });
  const error = await rejects(webhook.deliver(event(), { signal }));
  assert.ok(error instanceof WebhookError && error.retryable);
  assert.match(error.message, new RegExp(`^webhook http://127\\.0\\.0\\.1:${port}/… failed: `));
  assert.ok(!error.message.includes("sekrit") && !error.message.includes("token"), error.message);
  assert.equal(error.cause, undefined);
  await webhook.close();
});

Deno.test("WebhookSink.deliver() waits for Retry-After on 429, capped", async () => {
  await using server = new TestServer((_request, index) =>
    index === 0 ? new Response("slow down", { status: 429, headers: { "Retry-After": "3600" } }) : new Response("ok")
  );
  // With random() = 0 the backoff alone would not wait at all.
  const webhook = sink({ url: server.url(), maxRetryDelayMs: 60 });
  const started = performance.now();
  await webhook.deliver(event(), { signal });
  const waited = performance.now() - started;
  assert.equal(server.requests.length, 2);
  assert.ok(waited >= 55, `waited ${waited} ms`);
  assert.ok(waited < 3000, `waited ${waited} ms`);
  await webhook.close();
});

Deno.test("parseRetryAfter() reads seconds and HTTP dates", () => {
  assert.equal(parseRetryAfter(null, NOW), undefined);
  assert.equal(parseRetryAfter("120", NOW), 120_000);
  assert.equal(parseRetryAfter(" 0 ", NOW), 0);
  assert.equal(parseRetryAfter(new Date(NOW + 5000).toUTCString(), NOW - 123), 5000);
  assert.equal(parseRetryAfter("Thu, 01 Jan 1970 00:00:00 GMT", NOW), 0);
  assert.equal(parseRetryAfter("soon", NOW), undefined);
});

Deno.test("WebhookSink.deliver() backs off exponentially with full jitter", async () => {
  await using server = new TestServer((_request, index) => new Response(null, { status: index < 3 ? 500 : 200 }));
  const draws: number[] = [];
  // Backoffs 4, 8 and 16 ms; the draws pick 100%, 50% and 25% of them: 4 + 4 + 4 ms.
  const picks = [0.999, 0.5, 0.25];
  const webhook = new WebhookSink({
    url: server.url(),
    retryDelayMs: 4,
    random: () => {
      const pick = picks[draws.length];
      draws.push(pick);
      return pick;
    },
  });
  await webhook.deliver(event(), { signal });
  assert.deepEqual(draws, picks);
  assert.equal(server.requests.length, 4);
  await webhook.close();
});

Deno.test("WebhookSink.deliver() gives up an attempt after timeoutMs", async () => {
  await using server = new TestServer((_request, index, hang) => index === 0 ? hang() : new Response("ok"));
  const webhook = sink({ url: server.url(), timeoutMs: 50, retries: 0 });
  const error = await rejects(webhook.deliver(event(), { signal }));
  assert.ok(error instanceof WebhookError && error.retryable);
  assert.equal(error.message, `webhook http://127.0.0.1:${server.port}/… timed out after 50 ms`);
  assert.equal(webhook.state().failed, 1);
  // The next delivery, with retries, gets through.
  const retrying = sink({ url: server.url(), timeoutMs: 50, retries: 1 });
  await retrying.deliver(event(), { signal });
  await Promise.all([webhook.close(), retrying.close()]);
});

Deno.test("WebhookSink circuit breaker opens, rejects without a request, and closes after a trial", async () => {
  let status = 500;
  await using server = new TestServer(() => new Response("down", { status }));
  let clock = Date.UTC(2026, 10, 21, 12, 0, 0);
  const webhook = sink({
    url: server.url(),
    retries: 1,
    breakerFailures: 3,
    breakerCooldownMs: 30_000,
    now: () => clock,
  });

  for (let i = 1; i <= 3; i++) {
    await rejects(webhook.deliver(event(), { signal }));
    assert.equal(webhook.state().consecutive_failures, i);
    assert.equal(webhook.state().circuit, i < 3 ? "closed" : "open");
  }
  assert.equal(server.requests.length, 6);

  // Open: fails at once, nothing reaches the server, also just before the cooldown ends.
  for (const at of [0, 29_999]) {
    clock = Date.UTC(2026, 10, 21, 12, 0, 0) + at;
    const error = await rejects(webhook.deliver(event(), { signal }));
    assert.ok(error instanceof CircuitOpenError && error.retryable);
    assert.match(
      error.message,
      /circuit open until 12:00:30; last error: webhook .* answered 500 Internal Server Error: down$/,
    );
  }
  assert.equal(server.requests.length, 6);
  assert.deepEqual(webhook.state(), {
    circuit: "open",
    consecutive_failures: 3,
    delivered: 0,
    failed: 3,
    rejected: 2,
    open_until: "2026-11-21T12:00:30.000Z",
    last_status: 500,
    last_error: `webhook http://127.0.0.1:${server.port}/… answered 500 Internal Server Error: down`,
  });

  // Half-open: one trial with one attempt; it fails, so the circuit opens again from now.
  clock += 1;
  assert.equal(webhook.state().circuit, "half-open");
  await rejects(webhook.deliver(event(), { signal }));
  assert.equal(server.requests.length, 7);
  assert.equal(webhook.state().circuit, "open");
  assert.equal(webhook.state().open_until, "2026-11-21T12:01:00.000Z");
  assert.match((await rejects(webhook.deliver(event(), { signal }))).message, /circuit open until 12:01:00;/);
  assert.equal(server.requests.length, 7);

  // The next trial succeeds and closes the circuit.
  clock += 30_000;
  status = 200;
  assert.equal(webhook.state().circuit, "half-open");
  await webhook.deliver(event(), { signal });
  assert.equal(server.requests.length, 8);
  const state = webhook.state();
  assert.equal(state.circuit, "closed");
  assert.equal(state.consecutive_failures, 0);
  assert.equal(state.delivered, 1);
  assert.equal(state.open_until, undefined);
  assert.deepEqual(webhook.stats(), { ...state });
  await webhook.close();
});

Deno.test("WebhookSink.deliver() lets only one trial through a half-open circuit", async () => {
  let clock = 0;
  await using server = new TestServer((_request, index, hang) =>
    index === 0 ? new Response(null, { status: 500 }) : hang()
  );
  const webhook = sink({ url: server.url(), retries: 0, breakerFailures: 1, breakerCooldownMs: 10, now: () => clock });
  await rejects(webhook.deliver(event(), { signal }));
  clock = 10;
  const controller = new AbortController();
  const trial = webhook.deliver(event(), { signal: controller.signal });
  assert.ok((await rejects(webhook.deliver(event(), { signal }))) instanceof CircuitOpenError);
  assert.equal(webhook.state().circuit, "half-open");
  controller.abort();
  assert.equal((await rejects(trial)).name, "AbortError");
  // An aborted trial is not a failure: the next delivery is the trial again.
  assert.equal(webhook.state().circuit, "half-open");
  assert.equal(webhook.state().failed, 1);
  await webhook.close();
});

Deno.test("WebhookSink.deliver() honours its signal", async (t) => {
  await t.step("while the request is in flight", async () => {
    const controller = new AbortController();
    await using server = new TestServer((_request, _index, hang) => {
      controller.abort();
      return hang();
    });
    const webhook = sink({ url: server.url() });
    const error = await rejects(webhook.deliver(event(), { signal: controller.signal }));
    assert.equal(error.name, "AbortError");
    assert.equal(server.requests.length, 1);
    assert.deepEqual({ ...webhook.state(), last_error: undefined }, {
      circuit: "closed",
      consecutive_failures: 0,
      delivered: 0,
      failed: 0,
      rejected: 0,
      last_error: undefined,
    });
    await webhook.close();
  });

  await t.step("while backing off", async () => {
    await using server = new TestServer(() => new Response(null, { status: 500 }));
    const controller = new AbortController();
    const webhook = new WebhookSink({
      url: server.url(),
      retryDelayMs: 60_000,
      // Drawn just before the wait starts: the abort lands during a wait of almost a minute.
      random: () => {
        queueMicrotask(() => controller.abort());
        return 0.999;
      },
    });
    const started = performance.now();
    const error = await rejects(webhook.deliver(event(), { signal: controller.signal }));
    assert.equal(error.name, "AbortError");
    assert.ok(performance.now() - started < 10_000);
    assert.equal(server.requests.length, 1);
    assert.equal(webhook.state().failed, 0);
    await webhook.close();
  });

  await t.step("already aborted: no request", async () => {
    await using server = new TestServer();
    const webhook = sink({ url: server.url() });
    const error = await rejects(webhook.deliver(event(), { signal: AbortSignal.abort() }));
    assert.equal(error.name, "AbortError");
    assert.equal(server.requests.length, 0);
    await webhook.close();
  });
});

Deno.test("WebhookSink.close() is idempotent and ends deliveries in flight", async () => {
  await using server = new TestServer((_request, _index, hang) => {
    queueMicrotask(() => webhook.close());
    return hang();
  });
  const webhook = sink({ url: server.url() });
  const error = await rejects(webhook.deliver(event(), { signal }));
  assert.ok(error instanceof WebhookError);
  assert.match(error.message, /is closed$/);
  for (let i = 0; i < 5; i++) await webhook.close();
  await webhook[Symbol.asyncDispose]();
  const after = await rejects(webhook.deliver(event(), { signal }));
  assert.ok(after instanceof WebhookError && !after.retryable);
  assert.equal(server.requests.length, 1);
});

Deno.test("WebhookSink names itself without secrets, one name per URL", () => {
  const a = new WebhookSink({ url: "https://hooks.slack.com/services/T0/B0/aaaa", format: "slack" });
  const b = new WebhookSink({ url: "https://hooks.slack.com/services/T0/B0/bbbb", format: "slack" });
  assert.match(a.name, /^webhook:https:\/\/hooks\.slack\.com\/…#[0-9a-f]{8}$/);
  assert.notEqual(a.name, b.name);
  assert.equal(a.name, new WebhookSink({ url: "https://hooks.slack.com/services/T0/B0/aaaa" }).name);
  assert.match(new WebhookSink({ url: "https://ntfy.sh" }).name, /^webhook:https:\/\/ntfy\.sh#[0-9a-f]{8}$/);
});

Deno.test("new WebhookSink() rejects bad settings without showing the URL", async (t) => {
  const cases: { name: string; init: WebhookSinkInit; message: RegExp }[] = [
    { name: "a file URL", init: { url: "file:///etc/passwd" }, message: /scheme "file:"/ },
    { name: "no URL at all", init: { url: "hooks.slack.com/sekrit" }, message: /use http or https/ },
    { name: "an unknown format", init: { url: "https://x.example/", format: "teams" as "json" }, message: /"teams"/ },
    {
      name: "a header with a newline",
      init: { url: "https://x.example/", headers: { "X-A": "a\nb" } },
      message: /"X-A"/,
    },
    { name: "an empty secret", init: { url: "https://x.example/", secret: "" }, message: /secret is empty/ },
    { name: "negative retries", init: { url: "https://x.example/", retries: -1 }, message: /retries/ },
    { name: "zero timeout", init: { url: "https://x.example/", timeoutMs: 0 }, message: /timeoutMs/ },
  ];
  for (const c of cases) {
    await t.step(c.name, () => {
      assert.throws(() => new WebhookSink(c.init), (error: Error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, c.message);
        assert.ok(!error.message.includes("sekrit") && !error.message.includes("passwd"), error.message);
        return true;
      });
    });
  }
});
