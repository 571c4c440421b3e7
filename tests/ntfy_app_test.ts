/**
 * The ntfy Android app's requests, as its source writes them
 * (binwiederhier/ntfy-android: ApiService.kt, HttpUtil.requestBuilder,
 * util/Util.kt's topicUrl*), against a real agent with a token: the login
 * check before a subscription is added, with and without a login; the JSON
 * stream with `since=all`; reconnecting with the last id, also one the
 * agent does not hold; polling; the WebSocket; publishing from the app.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "tk_phone_secret";
const CONFIG = `[agent]\ntopics = ["default", "mytopic"]\n\n` +
  `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\nkeepalive = "1s"\n`;
/** HttpUtil.USER_AGENT: "ntfy/${VERSION_NAME} (${FLAVOR}; Android ${RELEASE}; SDK ${SDK_INT})". */
const USER_AGENT = "ntfy/1.16.0 (fdroid; Android 14; SDK 34)";
/** okhttp's Credentials.basic(user.username, user.password, UTF_8): the user types any name and the token. */
const LOGIN = `Basic ${btoa(`phil:${TOKEN}`)}`;

async function httpBase(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** HttpUtil.requestBuilder: the User-Agent always, Authorization when the app has a user for the server. */
function appHeaders(login?: string): Record<string, string> {
  return login ? { "User-Agent": USER_AGENT, "Authorization": login } : { "User-Agent": USER_AGENT };
}

/** ApiService.subscribe's stream, read line by line as JsonConnection does. */
function jsonConnection(url: string) {
  const lines: { id: string; event: string; message?: string; topic: string }[] = [];
  const controller = new AbortController();
  const response = fetch(url, { headers: appHeaders(LOGIN), signal: controller.signal });
  const reading = (async () => {
    const body = (await response).body!.pipeThrough(new TextDecoderStream());
    let buffer = "";
    for await (const chunk of body) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop()!;
      for (const part of parts) lines.push(JSON.parse(part));
    }
  })().catch(() => {});
  return {
    response,
    lines,
    messages: () => lines.filter((line) => line.event === "message").map((line) => line.message),
    async [Symbol.asyncDispose]() {
      controller.abort();
      await reading;
    },
  };
}

Deno.test("the ntfy app's requests against a real agent: login, subscribe, reconnect, poll, WebSocket, publish", async (t) => {
  await using agent = await startAgent({ config: loopbackConfig([], CONFIG) });
  const base = await httpBase(agent);
  const first = await agent.send(["-t", "mytopic", "stored before the phone came"]);

  await t.step("checkAuth without a user: 401, so the app shows its login dialog", async () => {
    const response = await fetch(`${base}/mytopic/auth`, { headers: appHeaders() });
    await response.body?.cancel();
    assert.equal(response.status, 401);
  });

  await t.step("checkAuth with a wrong password: 401 (the app says the user is not authorized)", async () => {
    const response = await fetch(`${base}/mytopic/auth`, { headers: appHeaders(`Basic ${btoa("phil:nope")}`) });
    await response.body?.cancel();
    assert.equal(response.status, 401);
  });

  await t.step("checkAuth with the token as password: 200, the subscription is added", async () => {
    const response = await fetch(`${base}/mytopic/auth`, { headers: appHeaders(LOGIN) });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { success: true });
  });

  let last = first;
  await t.step("subscribe: /json?since=all streams what is stored, then live events, and keepalives", async () => {
    await using connection = jsonConnection(`${base}/mytopic/json?since=all`);
    assert.equal((await connection.response).status, 200);
    assert.equal((await connection.response).headers.get("content-type"), "application/x-ndjson; charset=utf-8");
    await waitFor(() => connection.messages().length === 1, { message: "the stored event" });
    last = await agent.send(["-t", "mytopic", "live to the phone"]);
    await waitFor(() => connection.messages().length === 2, { message: "the live event" });
    await waitFor(() => connection.lines.some((line) => line.event === "keepalive"), { message: "a keepalive" });
    assert.deepEqual(connection.messages(), ["stored before the phone came", "live to the phone"]);
    assert.equal(connection.lines[0].event, "open");
  });

  const missed = await agent.send(["-t", "mytopic", "sent while the phone was away"]);

  await t.step("reconnecting after a drop with since=<last id> gets what was missed, once", async () => {
    await using connection = jsonConnection(`${base}/mytopic/json?since=${last}`);
    await waitFor(() => connection.messages().length >= 1, { message: "the missed event" });
    assert.deepEqual(connection.lines.filter((line) => line.event === "message").map((line) => line.id), [missed]);
  });

  await t.step("reconnecting with an id the agent does not hold (aged out, or another server's) gets all", async () => {
    for (const unknown of ["01ARZ3NDEKTSV4RRFFQ69G5FAV", "xE73Iyuabi3B"]) {
      await using connection = jsonConnection(`${base}/mytopic/json?since=${unknown}`);
      await waitFor(() => connection.messages().length === 3, { message: `everything stored for since=${unknown}` });
      assert.equal((await connection.response).status, 200);
    }
  });

  await t.step("poll: /json?poll=1&since=<id> returns the newer events and ends", async () => {
    const response = await fetch(`${base}/mytopic/json?poll=1&since=${first}`, { headers: appHeaders(LOGIN) });
    const lines = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
    assert.deepEqual(lines.map((line) => line.id), [last, missed]);
    const all = await fetch(`${base}/mytopic/json?poll=1&since=all`, { headers: appHeaders(LOGIN) });
    assert.equal((await all.text()).trim().split("\n").length, 3);
  });

  await t.step("WebSocket: /ws?since=<id> with the login header gets the newer events as frames", async () => {
    const frames: { event: string; id: string }[] = [];
    // Deno's WebSocket may send headers, as okhttp's does.
    const socket = new WebSocket(
      `${base.replace("http", "ws")}/mytopic/ws?since=${first}`,
      { headers: appHeaders(LOGIN) } as unknown as string[],
    );
    const closed = new Promise<void>((resolve) => socket.onclose = () => resolve());
    socket.onmessage = (message) => frames.push(JSON.parse(message.data));
    try {
      await waitFor(() => frames.filter((frame) => frame.event === "message").length === 2, { message: "2 frames" });
      assert.equal(frames[0].event, "open");
      assert.deepEqual(frames.filter((frame) => frame.event === "message").map((frame) => frame.id), [last, missed]);
    } finally {
      socket.close();
      await closed;
    }
  });

  await t.step("publish from the app: PUT /<topic>?priority=…&tags=…&title=… with the body", async () => {
    const title = encodeURIComponent("From the phone").replaceAll("%20", "+");
    const response = await fetch(`${base}/mytopic?priority=4&tags=${encodeURIComponent("phone,test")}&title=${title}`, {
      method: "PUT",
      headers: appHeaders(LOGIN),
      body: "Hello from Android",
    });
    assert.equal(response.status, 200);
    const reply = await response.json();
    assert.equal(reply.event, "message");
    assert.equal(reply.message, "Hello from Android");
    assert.equal(reply.title, "From the phone");
    assert.deepEqual(reply.tags, ["phone", "test"]);
    assert.equal(reply.priority, 4);
  });
});
