/**
 * Sources end to end: events that start in a named pipe, an ntfy-style
 * `curl`, or a log file on one agent reach another agent's sinks, each once.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";
import type { HarkEvent } from "../lib/event/event.ts";

async function sourceStats(agent: AgentProcess): Promise<Record<string, unknown>[]> {
  const reply = await agent.request({ op: "status" });
  return (reply.status as { sources: Record<string, unknown>[] }).sources;
}

async function pair(sources: string): Promise<[AgentProcess, AgentProcess]> {
  const a = await startAgent({ config: loopbackConfig([], sources) });
  const b = await startAgent({ config: loopbackConfig(a.addresses) });
  await a.waitForPeers([b.peerId]);
  return [a, b];
}

async function sh(script: string): Promise<Deno.CommandOutput> {
  return await new Deno.Command("sh", { args: ["-c", script], stdout: "piped", stderr: "piped" }).output();
}

function bodies(events: HarkEvent[]): string[] {
  return events.map((event) => event.body).toSorted();
}

Deno.test("a named pipe: many shell writers, partial lines and garbage; valid lines arrive once, the agent stays up", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-fifo-" });
  const fifo = `${dir}/alert`;
  const [a, b] = await pair(`[[source]]\ntype = "fifo"\npath = "${fifo}"\n`);
  await using _a = a;
  await using _b = b;
  try {
    // Eight writers at once, as arpwatch-style scripts would; some write garbage too.
    const writers = Array.from(
      { length: 8 },
      (_, w) =>
        sh(`for i in 1 2 3 4 5; do echo "New station:|writer ${w} line $i" > ${fifo}; done
          printf '\\377\\376 not utf-8\\n' > ${fifo}
          echo '{"title": "json", "body": "writer ${w} json", "priority": 4}' > ${fifo}
          echo '{"title": broken json' > ${fifo}`),
    );
    await Promise.all(writers);
    // Then one writer sends a line in two pieces, with the pipe held open between them. Alone: a line of another
    // writer between the pieces would become part of this one, as it would in any pipe.
    await sh(`exec 3> ${fifo}; printf 'Half|a line' >&3; printf ' finished\\n' >&3; exec 3>&-`);
    const expected = [
      ...Array.from({ length: 8 }, (_, w) => [1, 2, 3, 4, 5].map((i) => `writer ${w} line ${i}`)).flat(),
      ...Array.from({ length: 8 }, (_, w) => `writer ${w} json`),
      "a line finished",
    ];
    const events = await waitFor(async () => {
      const got = (await b.events()).filter((event) => event.source.peer === a.peerId);
      return got.length >= expected.length && got;
    }, { message: "every valid line at the other agent" });
    assert.deepEqual(bodies(events), expected.toSorted(), "each valid line exactly once");
    assert.equal(events.find((event) => event.body === "writer 3 json")?.priority, 4);
    assert.equal(events.find((event) => event.body === "writer 0 line 1")?.title, "New station:");
    const [stats] = await sourceStats(a);
    assert.equal(Object.values(stats.rejected as Record<string, number>).reduce((x, y) => x + y, 0), 16);
    // Writers have come and gone; the pipe still works.
    await sh(`echo "later|still listening" > ${fifo}`);
    await waitFor(async () => (await b.events()).some((event) => event.body === "still listening"), {
      message: "a later writer",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ntfy-style curl commands publish through the local HTTP listener, with auth enforced", async () => {
  const [a, b] = await pair(`[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\ntoken = "tk_secret"\n`);
  await using _a = a;
  await using _b = b;
  const [stats] = await sourceStats(a);
  const port = String(stats.listen).split(":").at(-1);
  const curl = async (...args: string[]) => {
    const output = await new Deno.Command("curl", { args: ["-s", "-o", "/dev/stderr", "-w", "%{http_code}", ...args] })
      .output();
    return { status: new TextDecoder().decode(output.stdout), body: new TextDecoder().decode(output.stderr) };
  };
  const denied = await curl("-d", "no token", `localhost:${port}/mytopic`);
  assert.equal(denied.status, "401");
  const auth = ["-H", "Authorization: Bearer tk_secret"];
  const sent = await curl(
    ...auth,
    "-H",
    "Title: Dogs are better than cats",
    "-H",
    "Priority: urgent",
    "-H",
    "Tags: warning,skull",
    "-d",
    "Remote access detected. Act right away.",
    `localhost:${port}/default`,
  );
  assert.equal(sent.status, "200", sent.body);
  const id = (JSON.parse(sent.body) as HarkEvent).id;
  const [event] = (await b.waitForEvents([id])).filter((e) => e.id === id);
  assert.equal(event.title, "Dogs are better than cats");
  assert.equal(event.body, "Remote access detected. Act right away.");
  assert.equal(event.priority, 5);
  assert.deepEqual(event.tags, ["warning", "skull"]);
  assert.equal(event.source.peer, a.peerId);
});

Deno.test("a watched log file: appended, rotated and truncated; each matching line arrives once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hark-watch-" });
  const log = `${dir}/app.log`;
  await Deno.writeTextFile(log, "ERROR before the agent started: not replayed\n");
  const [a, b] = await pair(`[[source]]
type = "watch"
path = "${log}"
rules = [{ pattern = "ERROR (?<msg>.*)", priority = 4, title = "ERROR on {host}", body = "{msg}" }]
`);
  await using _a = a;
  await using _b = b;
  try {
    const until = async (body: string) =>
      await waitFor(async () => (await b.events()).some((event) => event.body === body), { message: body });
    // The watcher starts at the end of the file; once a marker arrives, it is following.
    await waitFor(async () => {
      await Deno.writeTextFile(log, "ERROR marker\n", { append: true });
      return await waitFor(async () => (await b.events()).some((e) => e.body === "marker"), { timeoutMs: 1000 })
        .catch(() => false);
    }, { message: "the watcher to follow the file" });
    await Deno.writeTextFile(log, "INFO fine\nERROR appended one\nERROR appended two\n", { append: true });
    await until("appended two");
    await Deno.writeTextFile(log, "ERROR just before rotation\n", { append: true });
    await Deno.rename(log, `${log}.1`);
    await Deno.writeTextFile(log, "ERROR after rotation\n");
    await until("after rotation");
    await Deno.truncate(log, 0);
    await Deno.writeTextFile(log, "ERROR after truncation\n", { append: true });
    await until("after truncation");
    const matched = (await b.events()).filter((event) => event.source.peer === a.peerId && event.body !== "marker");
    assert.deepEqual(
      bodies(matched),
      ["appended one", "appended two", "just before rotation", "after rotation", "after truncation"].toSorted(),
    );
    assert.equal(matched[0].priority, 4);
    assert.match(matched[0].title!, /^ERROR on /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
