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

/** The reply is ntfy's message object (what `ntfy publish` and `jq .message` read), plus hark's `source`. */
function assertNtfyReply(reply: string, draft: EventDraft): void {
  const message = JSON.parse(reply);
  const now = Math.floor(Date.now() / 1000);
  assert.match(message.id, /^[0-9A-Z]{26}$/);
  assert.ok(Math.abs(message.time - now) <= 5, `time ${message.time} is unix seconds`);
  if (draft.cache === false) assert.ok(!("expires" in message), "no store keeps it, so it has no expiry (as in ntfy)");
  else assert.equal(message.expires, message.time + 86_400, "expires when the store drops it (the feed's retention)");
  assert.deepEqual(message, {
    id: message.id,
    time: message.time,
    ...(draft.cache === false ? {} : { expires: message.expires }),
    event: "message",
    topic: draft.topic,
    message: draft.body,
    ...(draft.title ? { title: draft.title } : {}),
    ...(draft.tags?.length ? { tags: draft.tags } : {}),
    priority: draft.priority ?? 3,
    ...(draft.click ? { click: draft.click } : {}),
    ...(draft.actions?.length
      ? {
        actions: draft.actions.map((action, index) => ({
          id: `${message.id}-${index}`,
          ...action,
          clear: action.clear ?? false,
        })),
      }
      : {}),
    ...(draft.markdown ? { content_type: "text/markdown" } : {}),
    ...(draft.icon ? { icon: draft.icon } : {}),
    ...(draft.attachment ? { attachment: draft.attachment } : {}),
    source: { host: "test", peer: "12D3KooWtest" },
  });
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
      name: "Cache: no asks that no agent store it",
      args: ["-H", "Cache: no", "-d", "one-time code 4711", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "one-time code 4711", cache: false },
    },
    {
      name: "X-Cache: yes is the default, stored",
      args: ["-H", "X-Cache: yes", "-d", "x", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "x" },
    },
    {
      name: "?cache=no",
      args: ["-d", "x", `${host}/mytopic?cache=no`],
      draft: { topic: "mytopic", body: "x", cache: false },
    },
    {
      name: 'JSON "cache": "no"',
      args: ["-d", '{"topic":"mytopic","message":"x","cache":"no"}', host],
      draft: { topic: "mytopic", body: "x", cache: false },
    },
    {
      name: "Markdown: yes",
      args: ["-d", "Look ma, **bold text**, *italics*, ...", "-H", "Markdown: yes", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "Look ma, **bold text**, *italics*, ...", markdown: true },
    },
    {
      name: "Content-Type: text/markdown, and ?md=1",
      args: ["-H", "Content-Type: text/markdown", "-d", "# hi", `${host}/mytopic?md=0`],
      draft: { topic: "mytopic", body: "# hi", markdown: true },
    },
    {
      name: "X-Markdown: no is plain text",
      args: ["-H", "X-Markdown: no", "-d", "*x*", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "*x*" },
    },
    {
      name: "Icon",
      args: ["-H", "Icon: https://styles.example/icon.png", "-d", "The Wire, S01E01", `${host}/mytopic`],
      draft: { topic: "mytopic", body: "The Wire, S01E01", icon: "https://styles.example/icon.png" },
    },
    {
      name: "Attach with Filename keeps the message",
      args: [
        "-H",
        "Attach: https://filesrv.lan/space.jpg",
        "-H",
        "Filename: diskspace.jpg",
        "-d",
        "low",
        `${host}/mytopic`,
      ],
      draft: {
        topic: "mytopic",
        body: "low",
        attachment: { name: "diskspace.jpg", url: "https://filesrv.lan/space.jpg" },
      },
    },
    {
      name: "Attach alone is named after the URL, and the message names the file",
      args: ["-X", "POST", "-H", "Attach: https://f-droid.org/F-Droid.apk", `${host}/mytopic`],
      draft: {
        topic: "mytopic",
        body: "You received a file: F-Droid.apk",
        attachment: { name: "F-Droid.apk", url: "https://f-droid.org/F-Droid.apk" },
      },
    },
    {
      name: "?attach= with a URL without a file name",
      args: ["-d", "x", `${host}/mytopic?attach=https://f.example/`],
      draft: { topic: "mytopic", body: "x", attachment: { name: "attachment", url: "https://f.example/" } },
    },
    {
      name: "JSON attach, filename, icon and markdown",
      args: [
        "-d",
        '{"topic":"mytopic","message":"m","attach":"https://f.example/a.jpg","filename":"b.jpg","icon":"https://f.example/i.png","markdown":true}',
        host,
      ],
      draft: {
        topic: "mytopic",
        body: "m",
        markdown: true,
        icon: "https://f.example/i.png",
        attachment: { name: "b.jpg", url: "https://f.example/a.jpg" },
      },
    },
    {
      name: "?tpl=yes fills the title and message from the JSON body",
      args: [
        "--globoff",
        "-d",
        '{"h":"pc","e":{"d":"full"}}',
        `${host}/mytopic?tpl=yes&t={{.h}}+alert&m=Disk+{{.e.d}}`,
      ],
      draft: { topic: "mytopic", body: "Disk full", title: "pc alert" },
    },
    {
      name: "a broadcast action",
      args: [
        "-H",
        "Actions: broadcast, Take picture, extras.cmd=pic, extras.camera=front",
        "-d",
        "x",
        `${host}/mytopic`,
      ],
      draft: {
        topic: "mytopic",
        body: "x",
        actions: [{ action: "broadcast", label: "Take picture", extras: { cmd: "pic", camera: "front" } }],
      },
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
      assertNtfyReply(reply, draft);
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
    {
      name: "delay too large",
      args: ["-H", "Delay: 4d", "-d", "x", `${host}/mytopic`],
      status: 400,
      error: /too large/,
    },
    {
      name: "JSON delay as a number",
      args: ["-d", '{"topic":"mytopic","message":"x","delay":30}', host],
      status: 400,
      error: /"delay" must be a string, as in ntfy: write "delay": "30s" for a delay of 30 seconds/,
    },
    {
      name: "sequence id with a space in the path",
      args: ["-d", "x", `${host}/mytopic/has%20space`],
      status: 400,
      error: /invalid sequence id "has space"/,
    },
    {
      name: "delete by a sequence id with a space",
      args: ["-X", "DELETE", `${host}/mytopic/has%20space`],
      status: 400,
      error: /invalid sequence id "has space"/,
    },
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
  assert.deepEqual(stats.rejected, { 400: 14, 403: 4, 404: 1, 405: 1, 413: 2 });
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
      if (status === 200) assert.equal(reply.json.message, "x");
      else assert.match(reply.json.error as string, /unauthorized/);
    });
  }
  assert.equal(ctx.drafts.length, 4);
});

Deno.test("HttpSource answers ntfy's GET /<topics>/auth, the app's login check", async (t) => {
  await using open = await startSource();
  await using guarded = await startSource({ token: "tk_secret" });
  // The app's login is a user name and a password: the token goes in as the password.
  const login = (password: string) => `Authorization: Basic ${btoa(`phil:${password}`)}`;
  const cases = [
    { name: "no token configured: anyone on loopback may read", port: open.port, args: [], status: 200 },
    { name: "no credentials, so the app asks for a login", port: guarded.port, args: [], status: 401 },
    { name: "a wrong password", port: guarded.port, args: ["-H", login("tk_wrong")], status: 401 },
    { name: "the token as the password", port: guarded.port, args: ["-H", login("tk_secret")], status: 200 },
    { name: "a bearer token", port: guarded.port, args: ["-H", "Authorization: Bearer tk_secret"], status: 200 },
  ];
  for (const { name, port, args, status } of cases) {
    await t.step(name, async () => {
      const reply = await curlStatus(...args, `127.0.0.1:${port}/mytopic/auth`);
      assert.equal(reply.status, status);
      if (status === 200) assert.deepEqual(reply.json, { success: true });
      else assert.match(reply.json.error as string, /unauthorized/);
    });
  }
  await t.step("several topics at once", async () => {
    const reply = await curlStatus(`127.0.0.1:${open.port}/mytopic,alerts/auth`);
    assert.deepEqual([reply.status, reply.json], [200, { success: true }]);
  });
  await t.step("a topic the agent would follow on the fly logs in too, as on ntfy", async () => {
    const reply = await curlStatus("-H", login("tk_secret"), `127.0.0.1:${guarded.port}/elsewhere/auth`);
    assert.deepEqual([reply.status, reply.json], [200, { success: true }]);
  });
  await t.step("a topic the source may not follow says so, before the app adds it", async () => {
    const reply = await curlStatus("-H", login("tk_secret"), `127.0.0.1:${guarded.port}/hark.secret/auth`);
    assert.equal(reply.status, 403);
    assert.match(reply.json.error as string, /does not follow "hark\.secret".*follow/);
  });
  assert.equal(open.drafts.length + guarded.drafts.length, 0, "a login check publishes nothing");
});

Deno.test("HttpSource lets pages on other origins in with the token (CORS), and only with it", async (t) => {
  await using guarded = await startSource({ token: "tk_secret" });
  await using open = await startSource();
  const page = { origin: "http://127.0.0.1:1", "sec-fetch-site": "same-site" };
  const call = async (port: number, path: string, init: RequestInit = {}) => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, init);
    const text = await response.text();
    return { status: response.status, headers: response.headers, json: text ? JSON.parse(text) : undefined };
  };
  await t.step("the preflight names the token's header, ntfy's methods, and any origin", async () => {
    const reply = await call(guarded.port, "/mytopic", {
      method: "OPTIONS",
      headers: {
        ...page,
        "access-control-request-method": "PUT",
        "access-control-request-headers": "authorization,title",
      },
    });
    assert.equal(reply.status, 204);
    assert.equal(reply.headers.get("access-control-allow-origin"), "*");
    assert.equal(reply.headers.get("access-control-allow-methods"), "GET, PUT, POST");
    assert.equal(reply.headers.get("access-control-allow-headers"), "Authorization, *");
  });
  await t.step("a cross-origin publish with the token is accepted and readable", async () => {
    const reply = await call(guarded.port, "/mytopic", {
      method: "PUT",
      headers: { ...page, authorization: "Bearer tk_secret", title: "From a page" },
      body: "hello",
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get("access-control-allow-origin"), "*");
    assert.equal(reply.json.title, "From a page");
  });
  await t.step("a cross-origin subscribe with ?auth= (EventSource cannot send headers)", async () => {
    const auth = btoa("Bearer tk_secret").replaceAll("=", "");
    const reply = await fetch(`http://127.0.0.1:${guarded.port}/mytopic/sse?poll=1&auth=${auth}`, { headers: page });
    await reply.body?.cancel();
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get("access-control-allow-origin"), "*");
  });
  await t.step("a cross-origin request without the token is refused before anything happens", async () => {
    const before = guarded.drafts.length;
    const reply = await call(guarded.port, "/mytopic", { method: "POST", headers: page, body: "x" });
    assert.equal(reply.status, 403);
    assert.match(reply.json.error, /must carry the token/);
    assert.equal(reply.headers.get("access-control-allow-origin"), null, "the page may not even read the refusal");
    assert.equal(guarded.drafts.length, before);
  });
  await t.step("a wrong token from another origin gets 401, which the page may read", async () => {
    const reply = await call(guarded.port, "/mytopic", {
      method: "POST",
      headers: { ...page, authorization: "Bearer tk_wrong" },
      body: "x",
    });
    assert.equal(reply.status, 401);
    assert.equal(reply.headers.get("access-control-allow-origin"), "*");
  });
  await t.step("a listener without a token refuses other origins, preflight included, and allows none", async () => {
    const preflight = await call(open.port, "/mytopic", {
      method: "OPTIONS",
      headers: { ...page, "access-control-request-method": "PUT" },
    });
    assert.equal(preflight.status, 403);
    assert.equal(preflight.headers.get("access-control-allow-origin"), null);
    const publish = await call(open.port, "/mytopic", {
      method: "POST",
      headers: { ...page, authorization: "Bearer anything" },
      body: "x",
    });
    assert.equal(publish.status, 403);
    assert.equal(publish.headers.get("access-control-allow-origin"), null);
    assert.equal(open.drafts.length, 0);
  });
  await t.step("scripts and curl, which send no Origin, get no CORS header", async () => {
    const reply = await call(guarded.port, "/mytopic", {
      method: "POST",
      headers: { authorization: "Bearer tk_secret" },
      body: "x",
    });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get("access-control-allow-origin"), null);
  });
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

Deno.test("HttpSource refuses uploads and bad media URLs with ntfy's codes", async (t) => {
  await using ctx = await startSource();
  const host = `127.0.0.1:${ctx.port}`;
  const file = await Deno.makeTempFile({ suffix: ".jpg" });
  try {
    await Deno.writeFile(file, Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]));
    const cases: { name: string; args: string[]; code: number; error: RegExp }[] = [
      {
        name: "a file with Filename (ntfy's upload)",
        args: ["-T", file, "-H", "Filename: flower.jpg", `${host}/mytopic`],
        code: 40014,
        error: /attachments not allowed: .*Attach: <url>/,
      },
      {
        name: "a body that is not UTF-8",
        args: ["--data-binary", `@${file}`, `${host}/mytopic`],
        code: 40014,
        error: /attachments not allowed: the body is not UTF-8/,
      },
      {
        name: "a body over the message limit",
        args: ["-d", "x".repeat(5000), `${host}/mytopic`],
        code: 40014,
        error: /the body is 5000 bytes, over the message limit of 4096/,
      },
      {
        name: "JSON with a filename and no attach",
        args: ["-d", '{"topic":"mytopic","message":"x","filename":"a.txt"}', host],
        code: 40014,
        error: /attachments not allowed/,
      },
      {
        name: "an attachment URL that is not http(s)",
        args: ["-H", "Attach: file:///etc/passwd", "-d", "x", `${host}/mytopic`],
        code: 40013,
        error: /attachment URL is invalid/,
      },
      {
        name: "an icon that is not a URL",
        args: ["-H", "Icon: cat.png", "-d", "x", `${host}/mytopic`],
        code: 40021,
        error: /icon URL is invalid/,
      },
      {
        name: "a filename with a slash",
        args: ["-H", "Attach: https://f.example/a", "-H", "Filename: ../a", "-d", "x", `${host}/mytopic`],
        code: 40013,
        error: /attachment.name must be/,
      },
    ];
    for (const { name, args, code, error } of cases) {
      await t.step(name, async () => {
        const reply = await curlStatus(...args);
        assert.equal(reply.status, 400);
        assert.deepEqual([reply.json.code, reply.json.http], [code, 400]);
        assert.match(reply.json.error as string, error);
      });
    }
    assert.equal(ctx.drafts.length, 0, "nothing was published");
  } finally {
    await Deno.remove(file);
  }
});
