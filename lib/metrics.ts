/**
 * The agent's counters in Prometheus' text exposition format (version
 * 0.0.4), served as `GET /metrics` by the http source. Counters end in
 * `_total`; gauges are what is true now (peers, queued events).
 */

import type { MeshCounters } from "./mesh/mesh.ts";
import type { CatchUpCounters } from "./history/catch_up.ts";
import type { SinkHealth, SinkState } from "./router.ts";
import type { UncaughtCounts } from "./uncaught.ts";

export interface MetricsSnapshot {
  events: MeshCounters;
  catchUp?: CatchUpCounters;
  sinks: SinkHealth[];
  peers: number;
  uptimeSeconds: number;
  /** Resident memory of the agent's process, in bytes. */
  residentBytes: number;
  /** Each source's name and its own counters (`accepted`, `subscribers`, …). */
  sources: { name: string; accepted?: unknown; subscribers?: unknown; subscriptions?: unknown }[];
  /** Rejections and exceptions nothing caught, which the process survived (lib/uncaught.ts). */
  uncaught?: UncaughtCounts;
}

export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const REJECTION_KINDS = ["malformed", "unauthorized", "throttled", "conflicting", "off_schema", "disputed"] as const;
const SINK_STATES: readonly SinkState[] = ["ok", "retrying", "suspended"];

type Labels = Record<string, string | number>;

class Exposition {
  readonly #lines: string[] = [];

  metric(name: string, type: "counter" | "gauge", help: string, samples: [Labels, number][]): void {
    this.#lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) this.#lines.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  text(): string {
    return this.#lines.join("\n") + "\n";
  }
}

export function renderMetrics(snapshot: MetricsSnapshot): string {
  const out = new Exposition();
  const { events } = snapshot;
  const one = (value: number): [Labels, number][] => [[{}, value]];
  out.metric("hark_events_published_total", "counter", "Events this agent published.", one(events.published));
  out.metric(
    "hark_gossip_messages_published_total",
    "counter",
    "Gossip messages those events left in (fewer when events were batched).",
    one(events.published_messages),
  );
  out.metric(
    "hark_events_received_total",
    "counter",
    "Events from other agents that passed every check.",
    one(events.accepted),
  );
  out.metric(
    "hark_membership_events_published_total",
    "counter",
    "Membership events (hark.node.*) this agent published.",
    one(events.membership_published),
  );
  out.metric(
    "hark_membership_events_received_total",
    "counter",
    "Membership events (hark.node.*) from other agents that passed every check.",
    one(events.membership_received),
  );
  out.metric(
    "hark_events_duplicate_total",
    "counter",
    "Copies of events already received, dropped.",
    one(events.duplicates),
  );
  out.metric(
    "hark_events_rejected_total",
    "counter",
    "Events from other agents that were refused, by reason.",
    REJECTION_KINDS.map((kind) => [{ reason: kind }, events[kind]]),
  );
  // A sink's name carries its target ("file:/var/log/hark.jsonl"); `sink` is
  // short and unique (its place in the config and its type), `name` is whole.
  const sinks = snapshot.sinks.map((sink, index) => {
    const type = sink.name.split(":")[0];
    return { sink, labels: { sink: `${index}:${type}`, type, name: sink.name } };
  });
  out.metric(
    "hark_sink_delivered_total",
    "counter",
    "Events each sink delivered.",
    sinks.map(({ sink, labels }) => [labels, sink.delivered]),
  );
  out.metric(
    "hark_sink_failed_total",
    "counter",
    "Failed delivery attempts of each sink (each is retried).",
    sinks.map(({ sink, labels }) => [labels, sink.failed]),
  );
  out.metric(
    "hark_sink_given_up_total",
    "counter",
    "Events each sink gave up on.",
    sinks.map(({ sink, labels }) => [labels, sink.given_up]),
  );
  out.metric(
    "hark_sink_dropped_total",
    "counter",
    "Events each sink dropped (queue full without a store, or too old).",
    sinks.map(({ sink, labels }) => [labels, sink.dropped]),
  );
  out.metric(
    "hark_sink_queued",
    "gauge",
    "Events waiting for each sink.",
    sinks.map(({ sink, labels }) => [labels, sink.queued]),
  );
  out.metric(
    "hark_sink_state",
    "gauge",
    "1 for the state each sink is in.",
    sinks.flatMap(({ sink, labels }) =>
      SINK_STATES.map((state) => [{ ...labels, state }, sink.state === state ? 1 : 0] as [Labels, number])
    ),
  );
  out.metric("hark_peers", "gauge", "Agents this agent is connected to.", one(snapshot.peers));
  const catchUp = snapshot.catchUp ?? { sessions: 0, caught_up: 0, refused: 0, failed_sessions: 0 };
  out.metric(
    "hark_catch_up_sessions_total",
    "counter",
    "Catch-up sessions with peers (anti-entropy and after gaps).",
    one(catchUp.sessions),
  );
  out.metric(
    "hark_catch_up_failed_sessions_total",
    "counter",
    "Catch-up sessions that failed.",
    one(catchUp.failed_sessions),
  );
  out.metric(
    "hark_catch_up_events_total",
    "counter",
    "Events this agent got from peers' history.",
    one(catchUp.caught_up),
  );
  out.metric(
    "hark_catch_up_refused_total",
    "counter",
    "Events from peers' history that were refused.",
    one(catchUp.refused),
  );
  const sources = snapshot.sources.map((source, index) => ({ source, labels: { source: `${index}:${source.name}` } }));
  out.metric(
    "hark_source_accepted_total",
    "counter",
    "Events each source published.",
    sources.filter(({ source }) => typeof source.accepted === "number")
      .map(({ source, labels }) => [labels, source.accepted as number]),
  );
  out.metric(
    "hark_http_subscribers",
    "gauge",
    "Open subscriptions to the http source's ntfy subscribe API.",
    sources.filter(({ source }) => typeof source.subscribers === "number")
      .map(({ source, labels }) => [labels, source.subscribers as number]),
  );
  out.metric(
    "hark_http_subscriptions_total",
    "counter",
    "Subscriptions the http source has served.",
    sources.filter(({ source }) => typeof source.subscriptions === "number")
      .map(({ source, labels }) => [labels, source.subscriptions as number]),
  );
  const uncaught = snapshot.uncaught ?? { rejections: 0, exceptions: 0 };
  out.metric(
    "hark_uncaught_errors_total",
    "counter",
    "Promise rejections and callback exceptions nothing caught; the agent survived each, and each is a bug to report.",
    [[{ kind: "rejection" }, uncaught.rejections], [{ kind: "exception" }, uncaught.exceptions]],
  );
  out.metric(
    "process_resident_memory_bytes",
    "gauge",
    "Resident memory of the agent's process (includes the shared Deno runtime's code).",
    one(snapshot.residentBytes),
  );
  out.metric("hark_uptime_seconds", "gauge", "Seconds since the agent started.", one(snapshot.uptimeSeconds));
  return out.text();
}

function formatLabels(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  return `{${entries.map(([key, value]) => `${key}="${escapeLabel(String(value))}"`).join(",")}}`;
}

/** The exposition format escapes backslash, double quote and newline in label values. */
function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
