/** `hark peers`, `hark status` and `hark id`: read-only views of the agent. */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { requestAgent } from "../control/client.ts";
import { UsageError } from "../errors.ts";
import type { MeshPeer } from "../mesh/mesh.ts";
import type { SinkHealth } from "../router.ts";
import { jsonForTerminal, stripControls } from "../util/controls.ts";

export function noArguments(name: string, positionals: string[]): void {
  if (positionals.length > 0) throw new UsageError(`${name} takes no arguments, got "${positionals[0]}"`);
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  return rows.map((row) => row.map((cell, i) => i === row.length - 1 ? cell : cell.padEnd(widths[i])).join("  "))
    .join("\n");
}

export const peersCommand: Command = {
  name: "peers",
  usage: "hark peers [--json]",
  help: `Lists connected peers: peer id, host, how it is connected, how it was found,
round-trip time, gossip score and topics.

CONNECTION  direct, or "relayed via PEER" through a circuit relay
FOUND       configured (network.peers), remembered (connected before),
            mdns (same LAN), exchange (told by another member),
            inbound (it dialed this agent)

Examples:
  hark peers
  hark peers --json | jq -r '.[] | "\\(.host) \\(.latencyMs) ms"'`,
  options: {},
  async run({ global, positionals }) {
    noArguments("peers", positionals);
    const reply = await requestAgent(global.stateDir, { op: "peers" });
    const peers = reply.peers as MeshPeer[];
    if (global.json) {
      print(jsonForTerminal(peers, 2));
    } else if (peers.length === 0) {
      print("No peers connected.");
    } else {
      print(table([
        ["PEER", "HOST", "CONNECTION", "FOUND", "ADDRESS", "RTT", "SCORE", "TOPICS"],
        ...peers.map((peer) => [
          peer.peer,
          peer.host ?? "?",
          peer.connection === "relayed" ? `relayed via ${shortPeer(peer.relay)}` : "direct",
          peer.origin,
          shortAddress(peer.addresses[0] ?? ""),
          peer.latencyMs === undefined ? "?" : `${peer.latencyMs} ms`,
          peer.score === undefined ? "?" : peer.score.toFixed(1),
          peer.topics.join(",") || "-",
        ]),
      ]));
    }
    return 0;
  },
};

/** The last characters of a peer id: enough to tell peers apart in a table. */
function shortPeer(peer: string | undefined): string {
  return peer ? `…${peer.slice(-6)}` : "?";
}

/** A relayed address is relay address + two peer ids; the relay column already names it. */
function shortAddress(address: string): string {
  const circuit = address.indexOf("/p2p-circuit");
  return circuit < 0 ? address : address.slice(0, address.lastIndexOf("/p2p/", circuit)) + "/p2p-circuit";
}

export const statusCommand: Command = {
  name: "status",
  usage: "hark status [--json]",
  help: `Shows network, peer id, listen addresses, topics (and those followed for ntfy subscribers), event counts
and each sink's health.

Examples:
  hark status
  hark status --json | jq '.sinks[] | select(.state != "ok")'   # sinks that are not healthy
  hark --state-dir /tmp/hark-b status                            # a second agent on this machine`,
  options: {},
  async run({ global, positionals }) {
    noArguments("status", positionals);
    const { status } = await requestAgent(global.stateDir, { op: "status" });
    if (global.json) {
      print(jsonForTerminal(status, 2));
      return 0;
    }
    // deno-lint-ignore no-explicit-any
    const s = status as any;
    const events = s.events;
    print([
      `hark ${s.version}, up ${s.uptime_s} s, ${s.memory.rss_mb} MB resident (${s.memory.heap_mb} MB JavaScript heap)`,
      `network:   ${s.network ?? "(open: no network key)"}`,
      `peer:      ${s.peer}`,
      `host:      ${s.host}`,
      `state dir: ${s.state_dir}`,
      `listen:    ${s.listen.join(" ")}`,
      `reach:     ${reachLine(s)}`,
      ...(s.connections ? [`peers:     ${connectionsLine(s.connections)}`] : []),
      `topics:    ${s.topics.join(", ")}`,
      ...(s.followed?.length ? [`followed:  ${followedLine(s.followed)}`] : []),
      `events:    ${events.published} published, ${events.accepted} received, ${events.duplicates} duplicates`,
      `members:   ${membersLine(s.members ?? [])}; ${events.membership_published ?? 0} membership events sent, ${
        events.membership_received ?? 0
      } received`,
      `rejected:  ${events.rejected} (${events.malformed} malformed, ${events.unauthorized} unauthorized, ${events.throttled} over the rate limit, ${events.conflicting} conflicting ids, ${
        events.off_schema ?? 0
      } off their topic's schema, ${events.disputed ?? 0} disputed departures)`,
      ...(s.escalations ? [`escalate:  ${escalationsLine(s.escalations)}`] : []),
      ...(s.history
        ? [
          `history:   ${s.history.caught_up} caught up from peers in ${s.history.sessions} sessions (${s.history.failed_sessions} failed, ${s.history.refused} events refused)`,
        ]
        : []),
      ...(s.scheduled?.pending ? [`scheduled: ${scheduledLine(s.scheduled)}`] : []),
      // Shown only when it happened: each is a bug the agent survived, and the log says what it was.
      ...(s.uncaught?.rejections || s.uncaught?.exceptions
        ? [
          `uncaught:  ${s.uncaught.rejections} unhandled rejections, ${s.uncaught.exceptions} uncaught exceptions, survived; each is a bug to report, logged at error level`,
        ]
        : []),
      "sinks:",
      table([
        ["  NAME", "STATE", "QUEUED", "DELIVERED", "DROPPED", "FAILED", "GIVEN UP", "LAST ERROR"],
        ...(s.sinks as SinkHealth[]).map((sink) => [
          `  ${sink.name}`,
          // A deactivated plugin is not retried at all until its file changes.
          sink.details?.plugin === "deactivated"
            ? "deactivated (save the file to reload)"
            : sink.state + (sink.next_attempt ? ` (next try ${sink.next_attempt.slice(11, 19)})` : ""),
          String(sink.queued),
          String(sink.delivered),
          String(sink.dropped),
          String(sink.failed),
          // Events this sink will never get (the log names each): worth seeing without --json.
          String(sink.given_up ?? 0),
          sink.last_error ?? "-",
        ]),
      ]),
    ].join("\n"));
    return 0;
  },
};

function reachLine(s: { relay?: boolean; reachability?: string; remembered_peers?: number }): string {
  const parts = [
    s.reachability === "unreachable"
      ? "relays cannot dial this agent; it takes a relay slot"
      : s.reachability === "reachable"
      ? "relays can dial this agent"
      : "not checked (no relay met yet)",
  ];
  if (s.relay) parts.push("serving as a relay");
  parts.push(`${s.remembered_peers ?? 0} peers remembered`);
  return parts.join("; ");
}

export const idCommand: Command = {
  name: "id",
  usage: "hark id [--json]",
  help: `Prints the peer id on the first line, then one dialable address per line.

Examples:
  hark id
  hark id --json | jq -r '.addresses[0]'   # for another agent's network.peers`,
  options: {},
  async run({ global, positionals }) {
    noArguments("id", positionals);
    const reply = await requestAgent(global.stateDir, { op: "id" });
    if (global.json) print(jsonForTerminal({ peer: reply.peer, addresses: reply.addresses }, 2));
    else print([reply.peer, ...(reply.addresses as string[])].join("\n"));
    return 0;
  },
};

/** `[[escalate]]` rules at work, and which agent took the last escalation. */
function escalationsLine(
  e: {
    rules: string[];
    pending: number;
    fired_here: number;
    taken_by_others: number;
    last?: { host: string; event: string; topic: string };
  },
): string {
  const last = e.last ? `; last: ${e.last.event} on ${e.last.topic}, taken by ${e.last.host}` : "";
  return `${e.rules.length} rule${
    e.rules.length === 1 ? "" : "s"
  }, ${e.pending} waiting, ${e.fired_here} escalated by this agent, ${e.taken_by_others} by others${last}`;
}

/** Events held until due: how many, and the next few with their due time, in UTC as `followed:` writes it. */
function scheduledLine(scheduled: { pending: number; next: { due: string; topic: string; text: string }[] }): string {
  const next = scheduled.next.map((event) =>
    `${new Date(event.due).toISOString().slice(0, 16).replace("T", " ")} UTC [${event.topic}] ${
      stripControls(event.text).slice(0, 40)
    }`
  );
  return `${scheduled.pending} held until due; next: ${next.join("; ")}`;
}

/** Topics followed for the http source's subscribers: who is connected, or until when it is kept. */
function followedLine(followed: { topic: string; subscribers: number; expires_at: string | null }[]): string {
  return followed.map(({ topic, subscribers, expires_at }) =>
    subscribers > 0
      ? `${topic} (${subscribers} subscriber${subscribers === 1 ? "" : "s"})`
      : `${topic} (until ${expires_at?.slice(0, 16).replace("T", " ")} UTC)`
  ).join(", ");
}

/** The other agents this one knows are in the network, by host. */
function membersLine(members: { peer: string; host: string }[]): string {
  if (members.length === 0) return "no other agent known";
  const hosts = members.map((member) => member.host).sort();
  const shown = hosts.length > 8 ? [...hosts.slice(0, 8), `${hosts.length - 8} more`] : hosts;
  return `${members.length} other agent${members.length === 1 ? "" : "s"} (${shown.join(", ")})`;
}

/**
 * Peers held against network.max_connections, up to how many this agent
 * dials (fewer than the low watermark after a full peer let it go), how many
 * were let go since start, and how many links were dropped for an unanswered
 * ping (a flaky network, or peers too busy to answer).
 */
export function connectionsLine(
  c: {
    peers: number;
    max: number | null;
    low: number | null;
    target?: number | null;
    trimmed: number;
    unanswered?: number;
  },
): string {
  const dropped = c.unanswered ? `; ${c.unanswered} dropped for an unanswered ping` : "";
  if (c.max === null) return `${c.peers} connected (no max_connections${dropped})`;
  const target = c.target ?? c.low;
  const lowered = target !== c.low ? ` (${c.low} once peers have room)` : "";
  return `${c.peers} connected (max_connections ${c.max}, dials up to ${target}${lowered}; ${c.trimmed} let go since start${dropped})`;
}
