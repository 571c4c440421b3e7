/**
 * Topics on the fly, as ntfy's users meet them: a phone subscribes to its
 * own topic on an agent that never heard of it, gets what any agent in the
 * mesh publishes there, and after being away (or the agent being killed)
 * gets exactly what it missed. Real agents, real stores, a real HTTP client.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { readLines } from "../lib/util/lines.ts";

const HTTP = (extra = "") => `[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\nkeepalive = "1s"\n${extra}\n`;

interface NtfyLine {
  id: string;
  event: string;
  topic: string;
  message?: string;
}

interface Followed {
  topic: string;
  subscribers: number;
  expires_at: string | null;
}

/** The http source's address, read from `hark status`. */
async function httpAddress(agent: AgentProcess): Promise<string> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  return `http://${sources.find((source) => source.name === "http")!.listen}`;
}

/** What the agent follows on the fly, as `hark status --json` shows it. */
async function followed(agent: AgentProcess): Promise<Followed[]> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { followed: Followed[] }).followed;
}

/** A subscriber like the ntfy app: a streamed `GET /<topic>/json`, its lines as they come, until closed. */
class Subscriber implements AsyncDisposable {
  readonly lines: NtfyLine[] = [];
  readonly #abort = new AbortController();
  readonly #reading: Promise<void>;

  constructor(url: string) {
    this.#reading = (async () => {
      const response = await fetch(url, { signal: this.#abort.signal });
      if (!response.ok) throw new Error(`${url}: ${response.status} ${await response.text()}`);
      for await (const line of readLines(response.body!, 1024 * 1024)) this.lines.push(JSON.parse(line));
    })();
    this.#reading.catch(() => {});
  }

  messages(): NtfyLine[] {
    return this.lines.filter((line) => line.event === "message");
  }

  async opened(): Promise<void> {
    await waitFor(() => this.lines.some((line) => line.event === "open"), { message: "the open message" });
  }

  /** Waits until `count` messages came; returns them. */
  async received(count: number): Promise<NtfyLine[]> {
    return await waitFor(() => this.messages().length >= count && this.messages(), {
      timeoutMs: 20_000,
      message: `${count} messages (have ${JSON.stringify(this.messages())})`,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#abort.abort();
    await this.#reading.catch(() => {});
  }
}

/** `GET url` to completion: status and body. */
async function get(url: string, init?: RequestInit): Promise<{ status: number; text: string }> {
  const response = await fetch(url, init);
  return { status: response.status, text: await response.text() };
}

/** The messages a `poll=1` returns. */
async function poll(url: string): Promise<NtfyLine[]> {
  const { status, text } = await get(url);
  assert.equal(status, 200, text);
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

Deno.test("a subscriber's topic is followed on the fly: mesh events reach it, and after an absence or a kill -9 exactly what it missed", async (t) => {
  // A publishes; B (topics = ["default"]) serves the phone. B dials A, so it finds A again after a restart.
  await using a = await startAgent({ config: loopbackConfig([]) });
  const bConfig = loopbackConfig(a.addresses, HTTP());
  let b = await startAgent({ config: bConfig });
  const bState = b.stateDir;
  try {
    await a.waitForPeers([b.peerId]);
    let base = await httpAddress(b);
    let last = "";

    await t.step("a subscription to a topic B lacks gets what A publishes there, in its own spelling", async () => {
      await using phone = new Subscriber(`${base}/PhoneTopic/json`);
      await phone.opened();
      await a.waitForPeers([b.peerId], "PhoneTopic");
      const id = await a.send(["-t", "PhoneTopic", "hello phone"]);
      const [message] = await phone.received(1);
      assert.equal(message.id, id);
      assert.equal(message.topic, "PhoneTopic");
      assert.equal(message.message, "hello phone");
      const status = await b.cli(["status", "--json"]);
      const shown = JSON.parse(status.stdout).followed as Followed[];
      assert.deepEqual(shown.map(({ topic, subscribers }) => ({ topic, subscribers })), [
        { topic: "PhoneTopic", subscribers: 1 },
      ]);
      last = id;
    });

    await t.step("after it left, B keeps following: since=<last id> gets exactly the 3 it missed", async () => {
      await waitFor(async () => (await followed(b))[0]?.subscribers === 0, { message: "the subscriber to leave" });
      const missed = [];
      for (const n of [1, 2, 3]) missed.push(await a.send(["-t", "PhoneTopic", `missed ${n}`]));
      await waitFor(async () => (await poll(`${base}/PhoneTopic/json?poll=1&since=${last}`)).length === 3, {
        message: "B to store the 3",
      });
      await using phone = new Subscriber(`${base}/PhoneTopic/json?since=${last}`);
      assert.deepEqual((await phone.received(3)).map((line) => line.id), missed);
      const live = await a.send(["-t", "PhoneTopic", "live"]);
      assert.deepEqual((await phone.received(4)).map((line) => line.id), [...missed, live]);
      last = live;
    });

    await t.step(
      "B killed with -9 still follows after a restart and catches up what A published meanwhile",
      async () => {
        await b.stop("SIGKILL");
        const missed = [];
        for (const n of [1, 2, 3]) missed.push(await a.send(["-t", "PhoneTopic", `while down ${n}`]));
        b = await startAgent({ config: bConfig, stateDir: bState, removeStateDir: true });
        base = await httpAddress(b);
        assert.deepEqual((await followed(b)).map(({ topic }) => topic), ["PhoneTopic"], "restored from the store");
        await a.waitForPeers([b.peerId], "PhoneTopic");
        await waitFor(async () => (await poll(`${base}/PhoneTopic/json?poll=1&since=${last}`)).length === 3, {
          timeoutMs: 30_000,
          message: "B to catch up the 3 from A",
        });
        await using phone = new Subscriber(`${base}/PhoneTopic/json?since=${last}`);
        assert.deepEqual((await phone.received(3)).map((line) => line.id), missed);
        const live = await a.send(["-t", "PhoneTopic", "live after restart"]);
        assert.deepEqual((await phone.received(4)).map((line) => line.id), [...missed, live]);
      },
    );

    await t.step("a first subscriber with since=all gets what the mesh published on the topic before", async () => {
      const earlier = await a.send(["-t", "Archive", "published before anyone on B asked"]);
      await using phone = new Subscriber(`${base}/Archive/json?since=all`);
      assert.deepEqual((await phone.received(1)).map((line) => line.id), [earlier]);
    });

    await t.step(
      "a publish over http makes B follow the topic: a later poll sees it and what others sent",
      async () => {
        const response = await fetch(`${base}/Created`, { method: "POST", body: "first" });
        assert.equal(response.status, 200);
        const first = (await response.json()).id;
        await waitFor(async () => (await followed(b)).some((entry) => entry.topic === "Created"), {
          message: "B to follow Created",
        });
        await a.waitForPeers([b.peerId], "Created");
        const second = await a.send(["-t", "Created", "second"]);
        await waitFor(
          async () =>
            (await poll(`${base}/Created/json?poll=1&since=all`)).map((line) => line.id).join() ===
              [first, second].join(),
          { message: "both events on Created" },
        );
      },
    );

    await t.step("topics followed for subscribers do not reach B's sinks that name no topics", async () => {
      const marker = await a.send(["send on default after all the rest"]);
      const events = await b.waitForEvents([marker]);
      assert.deepEqual(events.filter((event) => event.topic !== "default").map((event) => event.topic), []);
      assert.doesNotMatch(b.stdout, /PhoneTopic|Archive|Created/, "nor the stdout sink");
    });
  } finally {
    await b[Symbol.asyncDispose]();
  }
});

Deno.test("follow and follow_max bound what subscribers make an agent follow; unused topics expire after the store's retention", async (t) => {
  await using agent = await startAgent({
    config: loopbackConfig([], `${HTTP('follow = ["phone-*"]\nfollow_max = 2')}[store]\nretention = "3s"\n`),
  });
  const base = await httpAddress(agent);

  await t.step("a topic outside the follow globs is refused with 403 in ntfy's error shape", async () => {
    const { status, text } = await get(`${base}/other/json`);
    assert.equal(status, 403);
    const error = JSON.parse(text);
    assert.equal(error.http, 403);
    assert.match(error.error, /does not follow "other".*follow = \["phone-\*"\]/);
    assert.deepEqual(await followed(agent), []);
  });

  await using held = new Subscriber(`${base}/phone-1/json`);
  await held.opened();

  await t.step("beyond follow_max a new topic gets 429; a publish there still goes out", async () => {
    await poll(`${base}/phone-2/json?poll=1`);
    const { status, text } = await get(`${base}/phone-3/json?poll=1`);
    assert.equal(status, 429, text);
    assert.equal(JSON.parse(text).code, 42904);
    assert.match(JSON.parse(text).error, /limit reached.*follow_max/);
    const published = await fetch(`${base}/phone-3`, { method: "POST", body: "x" });
    assert.equal(published.status, 200);
    await published.body?.cancel();
    assert.deepEqual((await followed(agent)).map(({ topic }) => topic), ["phone-1", "phone-2"]);
  });

  await t.step("a topic without subscribers expires after the retention; one with a subscriber stays", async () => {
    await waitFor(async () => (await followed(agent)).length === 1, { message: "phone-2 to expire" });
    assert.deepEqual(await followed(agent), [{
      topic: "phone-1",
      subscribers: 1,
      left_at: null,
      expires_at: null,
    }]);
    assert.match((await agent.cli(["status"])).stdout, /followed: {2}phone-1 \(1 subscriber\)/);
  });

  await t.step("once its subscriber left, it expires too, and there is room again", async () => {
    await held[Symbol.asyncDispose]();
    await waitFor(async () => (await followed(agent)).length === 0, { message: "phone-1 to expire" });
    await poll(`${base}/phone-3/json?poll=1`);
    assert.deepEqual((await followed(agent)).map(({ topic }) => topic), ["phone-3"]);
  });
});
