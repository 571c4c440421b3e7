/**
 * ntfy's scheduled delivery against a real agent, with the curl lines of
 * ntfy's docs: `Delay`, `X-Delay`, `At`, `In`, the query parameter and JSON
 * `delay`; the reply's `time` is the due time; a subscriber gets the message
 * only when it is due; `poll=1&sched=1` lists what is pending (and a stream
 * with `sched=1` gets it again when due, as ntfy's does); ntfy's errors
 * for what cannot be scheduled.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { haveTools } from "./helpers/tools.ts";
import { waitFor } from "./helpers/wait.ts";
import { curl, CurlStream, httpAddress } from "./helpers/ntfy.ts";
import { MIN_DELAY_ENV } from "../lib/event/due.ts";
import { parseFutureTime } from "../lib/util/future_time.ts";

// Inherited by the agent: delays of 1-2 s stand in for ntfy's 10 s minimum.
Deno.env.set(MIN_DELAY_ENV, "1000");

const CONFIG = loopbackConfig(
  [],
  `[agent]\ntopics = ["mytopic", "hello", "reminder"]\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`,
);

/** `curl -s` to completion: its JSON reply lines. */
async function curlJson(...args: string[]): Promise<Record<string, unknown>[]> {
  const { stdout } = await curl("-s", ...args);
  return stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line));
}

Deno.test({
  name: "ntfy scheduled delivery: Delay, X-Delay, At, In, ?delay= and JSON delay; poll=1&sched=1; held until due",
  ignore: !haveTools("the ntfy scheduled delivery test", ["curl"]),
  async fn(t) {
    await using agent = await startAgent({ config: CONFIG });
    const base = await httpAddress(agent);

    await t.step("ntfy's docs' curl lines are accepted; the reply's time is the due time", async () => {
      const sent = Math.floor(Date.now() / 1000);
      const [morning] = await curlJson("-H", "At: tomorrow, 10am", "-d", "Good morning", `${base}/hello`);
      assert.equal(morning.event, "message");
      assert.equal(morning.time, Math.floor(parseFutureTime("tomorrow, 10am") / 1000));
      const [later] = await curlJson("-H", "In: 30min", "-d", "It's 30 minutes later now", `${base}/reminder`);
      assert.ok(Math.abs((later.time as number) - (sent + 1800)) <= 2, "30 minutes from now");
      const unix = sent + 3600;
      const [stamp] = await curlJson("-H", `Delay: ${unix}`, "-d", "Unix timestamps are awesome", `${base}/mytopic`);
      assert.equal(stamp.time, unix);
      const [header] = await curlJson("-H", "X-Delay: 2 hours", "-d", "x-delay", `${base}/mytopic`);
      assert.ok(Math.abs((header.time as number) - (sent + 7200)) <= 2);
      const [query] = await curlJson("-d", "query", `${base}/mytopic?delay=1h`);
      assert.ok(Math.abs((query.time as number) - (sent + 3600)) <= 2);
      const [json] = await curlJson("-d", JSON.stringify({ topic: "mytopic", message: "json", delay: "9am" }), base);
      assert.equal(json.time, Math.floor(parseFutureTime("9am") / 1000));
    });

    await t.step("poll=1 leaves pending messages out; poll=1&sched=1 lists them", async () => {
      const plain = await curlJson(`${base}/mytopic/json?poll=1`);
      assert.deepEqual(plain.map((message) => message.message), []);
      const scheduled = await curlJson(`${base}/mytopic/json?poll=1&sched=1`);
      assert.deepEqual(scheduled.map((message) => message.message).sort(), [
        "Unix timestamps are awesome",
        "json",
        "query",
        "x-delay",
      ]);
    });

    await t.step("a subscriber gets a scheduled message when it is due, with time = the due time", async () => {
      await using stream = new CurlStream(`${base}/reminder/json`);
      const lines = () => stream.json<{ event: string; message?: string; time: number }>();
      await waitFor(() => lines().some((line) => line.event === "open"), { message: "the open message" });
      const [reply] = await curlJson("-H", "Delay: 2s", "-d", "soon", `${base}/reminder`);
      const dueMs = (reply.time as number) * 1000;
      const seen = await waitFor(() => lines().find((line) => line.message === "soon") && Date.now(), {
        timeoutMs: 15_000,
        intervalMs: 20,
        message: "the scheduled message on the stream",
      });
      // ntfy's time is whole seconds: due is within the second after reply.time.
      assert.ok(seen >= dueMs, `streamed ${dueMs - seen} ms before it was due`);
      assert.equal(lines().find((line) => line.message === "soon")!.time, reply.time);
    });

    await t.step(
      "as ntfy's server, a stream with since= and sched=1 gets a pending message now and when due",
      async () => {
        const [reply] = await curlJson("-H", "Delay: 2s", "-d", "twice", `${base}/reminder`);
        await using stream = new CurlStream(`${base}/reminder/json?since=all&sched=1`);
        // ntfy sends the stored (and, with sched=1, pending) messages, then each message published or
        // due on the topic, so a pending one comes twice, with the same id.
        const twice = () => stream.json<{ id: string; message?: string }>().filter((line) => line.message === "twice");
        await waitFor(() => twice().length === 2, { timeoutMs: 15_000, message: "the pending message, then due" });
        assert.deepEqual(twice().map((line) => line.id), [reply.id, reply.id]);
      },
    );

    await t.step("what cannot be scheduled is refused with ntfy's codes", async () => {
      const cases: [string[], number, RegExp][] = [
        [["-H", "Delay: soon"], 40004, /unable to parse/],
        [["-H", "Delay: 5 days"], 40006, /too large/],
        [["-H", `At: ${Math.floor(Date.now() / 1000) - 60}`], 40005, /too small/],
        [["-H", "Delay: 30m", "-H", "Cache: no"], 40002, /cannot disable cache/],
      ];
      for (const [headers, code, error] of cases) {
        const [reply] = await curlJson(...headers, "-d", "x", `${base}/mytopic`);
        assert.equal(reply.code, code, JSON.stringify(reply));
        assert.equal(reply.http, 400);
        assert.match(reply.error as string, error);
      }
    });
  },
});
