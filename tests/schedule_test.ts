/**
 * Scheduled delivery across real agents: `hark send --delay` publishes at
 * once, every agent holds the event and delivers it at its due time, whether
 * the publisher is still up, the receiver restarted, or it caught up after
 * an absence; a newer event with the same sequence key, or an ack, withdraws
 * the pending one (the dead man's switch).
 *
 * The real clock must pass here: the test-only lower bound lets delays of
 * 2-4 s stand in for the 10 s minimum, and every wait is for a condition.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import { burst } from "./helpers/burst.ts";
import { KEYS_PER_FRAME } from "../lib/history/wire.ts";
import { MIN_DELAY_ENV } from "../lib/event/due.ts";
import type { HarkEvent } from "../lib/event/event.ts";

// Inherited by every agent and CLI process this file starts.
Deno.env.set(MIN_DELAY_ENV, "1000");

/** Ids of the events an agent holds until due. */
async function pendingIds(agent: AgentProcess): Promise<string[]> {
  const { status } = await agent.request({ op: "status" });
  return (status as { scheduled: { next: { id: string }[] } }).scheduled.next.map((event) => event.id);
}

async function pendingCount(agent: AgentProcess): Promise<number> {
  const { status } = await agent.request({ op: "status" });
  return (status as { scheduled: { pending: number } }).scheduled.pending;
}

/**
 * Watches the file sink for `id` and returns the event and the instant it
 * was first seen there: seen before `due` means delivered early.
 */
async function firstSeen(agent: AgentProcess, id: string, timeoutMs = 20_000): Promise<[HarkEvent, number]> {
  return await waitFor(async () => {
    const event = (await agent.events()).find((candidate) => candidate.id === id);
    return event && [event, Date.now()] as [HarkEvent, number];
  }, { timeoutMs, intervalMs: 20, message: `${agent.stateDir} to deliver ${id}` });
}

function assertOnTime(event: HarkEvent, seenAt: number): void {
  const due = Date.parse(event.due!);
  assert.ok(seenAt >= due, `delivered ${due - seenAt} ms before it was due`);
  assert.ok(seenAt - due < 5_000, `delivered ${seenAt - due} ms after it was due`);
}

function copiesOf(events: HarkEvent[], id: string): number {
  return events.filter((event) => event.id === id).length;
}

Deno.test("send --delay: the publisher is killed right after; the other agent delivers it at its due time, not before", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);
  await a.waitForPeers([b.peerId]);

  const sentAt = Date.now();
  const id = await a.send(["--delay", "3s", "--title", "reminder", "take the backup tape home"]);
  await waitFor(async () => (await pendingIds(b)).includes(id), { message: "B to hold the event" });
  assert.equal((await a.stop("SIGKILL")).signal, "SIGKILL");

  const [event, seenAt] = await firstSeen(b, id);
  assertOnTime(event, seenAt);
  const due = Date.parse(event.due!);
  assert.ok(due - sentAt >= 3_000 && due - sentAt < 6_000, "due 3 s after it was sent");
  assert.equal(event.source.peer, a.peerId);
  assert.equal(await pendingCount(b), 0);
  const history = await b.cli(["history"]);
  assert.match(history.stdout, /take the backup tape home/);
  assert.doesNotMatch(history.stdout, /scheduled, due/, "no longer pending");
});

Deno.test("dead man's switch: each --delay --sequence send pushes the deadline; only the last fires, once, on every agent; an ack cancels it", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);
  await a.waitForPeers([b.peerId]);

  const switchArgs = ["--delay", "3s", "--sequence", "backup-db01", "db01 backup missed"];
  const first = await a.send(switchArgs);
  const second = await a.send(switchArgs);
  const last = await a.send(switchArgs);
  // Each replaces the one before: B lists only the last as pending.
  await waitFor(async () => (await pendingIds(b)).includes(last), { message: "B to hold the last" });
  assert.equal(await pendingCount(b), 1);
  const pending = await b.cli(["history"]);
  assert.match(pending.stdout, /db01 backup missed .*\(scheduled, due /);

  for (const agent of [a, b]) {
    const [event, seenAt] = await firstSeen(agent, last);
    assertOnTime(event, seenAt);
  }
  // The earlier two were due before the last: by now each was withdrawn, not delivered.
  for (const agent of [a, b]) {
    await waitFor(async () => (await pendingCount(agent)) === 0, { message: "nothing left pending" });
    const events = await agent.events();
    assert.equal(copiesOf(events, last), 1, "the last fires once");
    assert.equal(copiesOf(events, first) + copiesOf(events, second), 0, "the replaced ones never fire");
  }

  // A good backup re-arms it; an acknowledgement on B cancels it on every agent.
  const armed = await a.send(switchArgs);
  await waitFor(async () => (await pendingIds(b)).includes(armed), { message: "B to hold the new one" });
  const ack = await b.cli(["ack", "backup-db01"]);
  assert.equal(ack.code, 0, ack.stderr);
  const clearId = ack.stdout.trim();
  await a.waitForEvents([clearId]);
  for (const agent of [a, b]) {
    await waitFor(async () => (await pendingCount(agent)) === 0, { message: "the ack to cancel it" });
  }
  // Past its due time (real time must pass here), it has reached no sink on either agent.
  const armedDue = Date.parse(
    (await a.cli(["history", "--json"])).stdout.split("\n").filter(Boolean)
      .map((line) => JSON.parse(line)).find((event) => event.id === armed).due,
  );
  await waitFor(() => Date.now() > armedDue + 1_000, { timeoutMs: 10_000, message: "its due time to pass" });
  for (const agent of [a, b]) {
    assert.equal(copiesOf(await agent.events(), armed), 0, "an acknowledged switch never fires");
  }
});

Deno.test("an agent killed before the due time delivers the event once at its due time after a restart, and at once if it restarts after", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);

  const early = await a.send(["--delay", "4s", "restarted before due"]);
  await waitFor(async () => (await pendingIds(b)).includes(early), { message: "B to hold it" });
  assert.equal((await b.stop("SIGKILL")).signal, "SIGKILL");
  let late: string;
  {
    await using restarted = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses) });
    const [event, seenAt] = await firstSeen(restarted, early);
    assertOnTime(event, seenAt);

    late = await a.send(["--delay", "2s", "restarted after due"]);
    await waitFor(async () => (await pendingIds(restarted)).includes(late), { message: "B to hold the second" });
    assert.equal((await restarted.stop("SIGKILL")).signal, "SIGKILL");
    const [onA] = await firstSeen(a, late);
    await waitFor(() => Date.now() > Date.parse(onA.due!) + 500, { message: "the due time to pass" });
  }
  await using again = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses) });
  await firstSeen(again, late);
  await waitFor(async () => (await pendingCount(again)) === 0, { message: "nothing pending" });
  const events = await again.events();
  assert.equal(copiesOf(events, early), 1, "the first once");
  assert.equal(copiesOf(events, late), 1, "the second once");
});

Deno.test("an agent offline when a scheduled event was published catches it up: before due it delivers at due, after due at once, once", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);
  const hello = await a.send(["hello"]);
  await b.waitForEvents([hello]);
  await b.stop();

  const before = await a.send(["--delay", "4s", "caught up before due"]);
  {
    await using back = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses) });
    await waitFor(async () => (await pendingIds(back)).includes(before), { message: "B to catch it up" });
    const [event, seenAt] = await firstSeen(back, before);
    assertOnTime(event, seenAt);
    await back.stop();
  }

  const after = await a.send(["--delay", "2s", "caught up after due"]);
  const [onA] = await firstSeen(a, after);
  await waitFor(() => Date.now() > Date.parse(onA.due!) + 500, { message: "the due time to pass" });
  await using late = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses) });
  await firstSeen(late, after);
  await waitFor(async () => (await pendingCount(late)) === 0, { message: "nothing pending" });
  const events = await late.events();
  assert.equal(copiesOf(events, after), 1, "once");
  assert.equal(copiesOf(events, before), 1, "the earlier one was not delivered again");
});

Deno.test("hark status and hark history write a pending event's due time as their other times are written, in UTC, whatever the locale", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  const id = await a.send(["--delay", "1h", "--title", "db01 backup missed", "no good backup for an hour"]);
  await waitFor(async () => (await pendingIds(a)).includes(id), { message: "the agent to hold the event" });
  const { status } = await a.request({ op: "status" });
  const due = (status as { scheduled: { next: { due: string }[] } }).scheduled.next[0].due;
  const minute = new Date(due).toISOString().slice(0, 16).replace("T", " ");
  const second = new Date(due).toISOString().slice(0, 19).replace("T", " ");
  // A locale other than the machine's own would read "12/8/2026, 10:00:00 AM" or "8.12.2026, 10:00:00".
  const env = { LANG: "de_DE.UTF-8", LC_ALL: "de_DE.UTF-8" };
  const text = await a.cli(["status"], { env });
  assert.ok(
    text.stdout.includes(`scheduled: 1 held until due; next: ${minute} UTC [default] db01 backup missed`),
    text.stdout,
  );
  const history = await a.cli(["history"], { env });
  assert.ok(history.stdout.includes(`(scheduled, due ${second} UTC)`), history.stdout);
});

Deno.test("catch-up brings several past-due versions of one key: only the newest is delivered, once", async () => {
  // Room for a burst that fills more than one catch-up frame of keys.
  const fast = "publisher_rate = 1000\npublisher_burst = 2000";
  await using a = await startAgent({ config: loopbackConfig([], "", fast) });
  await using b = await startAgent({ config: loopbackConfig(a.addresses, "", fast) });
  await b.waitForPeers([a.peerId]);
  const hello = await a.send(["hello"]);
  await b.waitForEvents([hello]);
  await b.stop();

  // While B is away: a version, more events than a frame of keys holds (so the session
  // goes back and forth between them), then its replacement; both fall due.
  const first = await a.send(["--delay", "1s", "--sequence", "backup-db09", "first version"]);
  const between = await burst(a, { count: KEYS_PER_FRAME + 20, body: (i) => `between ${i}` });
  const newest = await a.send(["--delay", "1s", "--sequence", "backup-db09", "newest version"]);
  const [onA] = await firstSeen(a, newest);
  await waitFor(() => Date.now() > Date.parse(onA.due!) + 500, { message: "the due time to pass" });

  // One catch-up session brings them in A's order: the first version long before its replacement.
  await using back = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses, "", fast) });
  await back.waitForEvents([...between, newest], 30_000);
  await waitFor(async () => (await pendingCount(back)) === 0, { message: "nothing pending" });
  const events = await back.events();
  assert.equal(copiesOf(events, newest), 1, "the newest version, once");
  assert.equal(copiesOf(events, first), 0, "the replaced version never");
});

Deno.test("dead man's switch: an agent back after the due time of a switch re-armed while it was away does not fire it", async () => {
  await using a = await startAgent({ config: loopbackConfig() });
  await using b = await startAgent({ config: loopbackConfig(a.addresses) });
  await b.waitForPeers([a.peerId]);
  const missed = ["--sequence", "backup-db11", "db11 backup missed"];
  const armed = await a.send(["--delay", "2s", ...missed]);
  await waitFor(async () => (await pendingIds(b)).includes(armed), { message: "B to hold it" });
  assert.equal((await b.stop("SIGKILL")).signal, "SIGKILL");

  // A good backup while B is down re-arms the switch; the old due time passes.
  const rearmed = await a.send(["--delay", "1m", ...missed]);
  const [onA] = (await a.cli(["history", "--json"])).stdout.split("\n").filter(Boolean)
    .map((line) => JSON.parse(line) as HarkEvent).filter((event) => event.id === armed);
  await waitFor(() => Date.now() > Date.parse(onA.due!) + 500, { message: "the old due time to pass" });

  await using back = await startAgent({ stateDir: b.stateDir, config: loopbackConfig(a.addresses) });
  await waitFor(async () => (await pendingIds(back)).includes(rearmed), { message: "B to catch up the new one" });
  await waitFor(async () => !(await pendingIds(back)).includes(armed), { message: "the old one withdrawn" });
  assert.equal(copiesOf(await back.events(), armed), 0, "a machine that merely restarted never fires the switch");
});
