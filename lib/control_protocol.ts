/**
 * The control socket's protocol: one JSON object per line each way.
 *
 *   → {"op":"send","event":{"topic":"builds","title":"done"}}
 *   ← {"ok":true,"id":"01J...","recipients":2}
 *   → {"op":"tail","topics":["builds"]}
 *   ← {"ok":true} then {"event":{...}} per event, until either side closes
 *   ← {"ok":false,"error":"..."} for any request that fails
 *
 * On Unix it is a socket file in the state dir with mode 0600. Windows has no
 * such file permissions, so there it is loopback TCP and every request
 * carries a token that only the owner can read from the state dir.
 */

import { inDir, socketPath } from "./paths.ts";

export type ControlOp = "send" | "tail" | "peers" | "status" | "id" | "history" | "clock" | "topics";
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

export interface ControlRequest {
  op: ControlOp;
  token?: string;
  [key: string]: unknown;
}

export interface ControlReply {
  ok: boolean;
  error?: string;
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
