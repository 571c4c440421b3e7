/**
 * The control socket's protocol: one JSON object per line each way.
 *
 *   → {"op":"send","event":{"topic":"builds","title":"done"}}
 *   ← {"ok":true,"id":"01J...","recipients":2}
 *   → {"op":"tail","topics":["builds"]}
 *   ← {"ok":true} then {"event":{...}} per event, until either side closes
 *   → {"op":"history","topics":["builds"],"limit":5000}
 *   ← {"ok":true,"events":[...],"more":true} per page, the last without "more"
 *   ← {"ok":false,"error":"..."} for any request that fails
 *
 * On Unix it is a socket file in the state dir with mode 0600. Windows has no
 * such file permissions, so there it is loopback TCP and every request
 * carries a token that only the owner can read from the state dir.
 *
 * This module holds types and the endpoint only: `hark send` imports it, and
 * must not pay for the server's validation (parse.ts).
 */

import type { EventDraft } from "../event/event.ts";
import { inDir, socketPath } from "../config/paths.ts";

/** Where stored events start: after a time (ms since the epoch) or after an event id. */
export interface SinceFields {
  since_time?: number;
  since_id?: string;
}

/** Publishes one event as this agent. */
export interface SendRequest {
  op: "send";
  event: EventDraft;
}

/** Follows new events; with a since field, stored ones first. Without topics, agent.topics. */
export interface TailRequest extends SinceFields {
  op: "tail";
  topics?: string[];
  /** A filter expression (SPEC's `when`). */
  when?: string;
}

/** Stored events, oldest first, a reply line per page. Without topics, agent.topics. */
export interface HistoryRequest extends SinceFields {
  op: "history";
  topics?: string[];
  limit?: number;
}

/** The ops that carry no fields: a question about the agent. */
export interface QueryRequest {
  op: "peers" | "status" | "id" | "clock" | "topics";
}

export type ControlRequest = SendRequest | TailRequest | HistoryRequest | QueryRequest;
export type ControlOp = ControlRequest["op"];

export const CONTROL_OPS: readonly ControlOp[] = [
  "send",
  "tail",
  "peers",
  "status",
  "id",
  "history",
  "clock",
  "topics",
];

/** A request as it travels: on Windows each one carries the agent's token. */
export type WireRequest = ControlRequest & { token?: string };

/**
 * A reply. Its fields depend on the op, and the CLI prints most of them as
 * they come, so clients read them by name rather than through a type per op.
 */
export interface ControlReply {
  ok: boolean;
  error?: string;
  warning?: string;
  [key: string]: unknown;
}

export const USE_TCP = Deno.build.os === "windows";

/** Where the Windows agent writes its port and token. */
export function tokenPath(stateDir: string): string {
  return inDir(stateDir, "control.json");
}

export interface ControlEndpoint {
  connect(): Promise<Deno.Conn>;
  token?: string;
}

/** How a client reaches the agent of `stateDir`. */
export async function controlEndpoint(stateDir: string): Promise<ControlEndpoint> {
  if (!USE_TCP) {
    const path = socketPath(stateDir);
    return { connect: () => Deno.connect({ transport: "unix", path }) };
  }
  const { port, token } = JSON.parse(await Deno.readTextFile(tokenPath(stateDir)));
  return { connect: () => Deno.connect({ hostname: "127.0.0.1", port }), token };
}
