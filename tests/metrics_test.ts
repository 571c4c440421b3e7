/**
 * `GET /metrics` on the http source, read as Prometheus reads it: every
 * line is parsed by the text exposition format's rules, and the numbers
 * follow what real agents did.
 */

import assert from "node:assert/strict";
import { type AgentProcess, loopbackConfig, startAgent } from "./helpers/hark.ts";
import { Rogue } from "./helpers/rogue.ts";
import { waitFor } from "./helpers/wait.ts";

interface Family {
  type: "counter" | "gauge";
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.e+]+|NaN|[+-]Inf)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

/** Parses Prometheus' text format strictly: HELP and TYPE before samples, valid names, labels and values. */
function parseExposition(text: string): Map<string, Family> {
  assert.ok(text.endsWith("\n"), "the exposition ends with a newline");
  const families = new Map<string, Family>();
  let help: { name: string; text: string } | undefined;
  for (const line of text.slice(0, -1).split("\n")) {
    if (line.startsWith("# HELP ")) {
      const [name, ...words] = line.slice(7).split(" ");
      assert.match(name, NAME);
      help = { name, text: words.join(" ") };
      continue;
    }
    if (line.startsWith("# TYPE ")) {
      const [name, type] = line.slice(7).split(" ");
      assert.equal(help?.name, name, `HELP comes before TYPE for ${name}`);
      assert.ok(type === "counter" || type === "gauge", `type of ${name}: ${type}`);
      assert.ok(!families.has(name), `${name} is described once`);
      families.set(name, { type, help: help!.text, samples: [] });
      continue;
    }
    const match = SAMPLE.exec(line);
    assert.ok(match, `a sample line: ${JSON.stringify(line)}`);
    const family = families.get(match[1]);
    assert.ok(family, `${match[1]} has a TYPE before its samples`);
    const labels: Record<string, string> = {};
    if (match[3]) {
      LABEL.lastIndex = 0;
      while (LABEL.lastIndex < match[3].length) {
        const label = LABEL.exec(match[3]);
        assert.ok(label, `labels of ${JSON.stringify(line)}`);
        labels[label[1]] = label[2].replace(/\\(.)/g, (_, char) => char === "n" ? "\n" : char);
      }
    }
    if (family.type === "counter") assert.ok(match[1].endsWith("_total"), `counter ${match[1]} ends in _total`);
    family.samples.push({ labels, value: Number(match[4]) });
  }
  return families;
}

async function metricsOf(agent: AgentProcess): Promise<Map<string, Family>> {
  const reply = await agent.request({ op: "status" });
  const sources = (reply.status as { sources: { name: string; listen: string }[] }).sources;
  const response = await fetch(`http://${sources.find((source) => source.name === "http")!.listen}/metrics`);
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  return parseExposition(await response.text());
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  return families.get(name)?.samples.find((sample) =>
    Object.entries(labels).every(([key, wanted]) => sample.labels[key] === wanted)
  )?.value;
}

Deno.test({
  name: "GET /metrics: Prometheus text that counts what the agents did",
  // The rogue is a libp2p node in this process.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const config = `[[sink]]\ntype = "file"\n\n[[source]]\ntype = "http"\nlisten = "127.0.0.1:0"\n`;
    await using server = await startAgent({ config: loopbackConfig([], config) });
    await using publisher = await startAgent({ config: loopbackConfig(server.addresses) });
    await server.waitForPeers([publisher.peerId]);

    const before = await metricsOf(server);
    assert.equal(value(before, "hark_events_received_total"), 0);
    assert.equal(value(before, "hark_peers"), 1);

    const received = [await publisher.send(["one"]), await publisher.send(["two"]), await publisher.send(["three"])];
    await server.waitForEvents(received);
    await server.send(["from the server"]);
    await using rogue = await Rogue.beside(server);
    await rogue.publish("default", crypto.getRandomValues(new Uint8Array(64)));

    const after = await waitFor(async () => {
      const families = await metricsOf(server);
      return value(families, "hark_events_rejected_total", { reason: "malformed" }) === 1 &&
        value(families, "hark_sink_delivered_total", { type: "file" }) === 4 && families;
    }, { message: "the rejection and the deliveries to show" });
    assert.equal(value(after, "hark_events_received_total"), 3);
    assert.equal(value(after, "hark_events_published_total"), 1);
    assert.equal(value(after, "hark_gossip_messages_published_total"), 1);
    for (const reason of ["unauthorized", "throttled", "conflicting"]) {
      assert.equal(value(after, "hark_events_rejected_total", { reason }), 0, reason);
    }
    assert.equal(value(after, "hark_sink_delivered_total", { sink: "0:file" }), 4);
    assert.equal(value(after, "hark_sink_failed_total", { sink: "0:file" }), 0);
    assert.equal(value(after, "hark_sink_queued", { sink: "0:file" }), 0);
    assert.equal(value(after, "hark_sink_state", { sink: "0:file", state: "ok" }), 1);
    assert.equal(value(after, "hark_sink_state", { sink: "0:file", state: "suspended" }), 0);
    assert.equal(value(after, "hark_peers"), 2, "the publisher and the rogue");
    assert.equal(after.get("hark_catch_up_sessions_total")?.type, "counter");
    assert.equal(value(after, "hark_http_subscribers", { source: "0:http" }), 0);
    assert.ok(value(after, "hark_uptime_seconds")! >= 0);
    assert.ok(value(after, "process_resident_memory_bytes")! > 10_000_000, "a Deno process is over 10 MB");
    for (const [name, family] of after) assert.ok(family.help.length > 0, `${name} has help text`);
  },
});
