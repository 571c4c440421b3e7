/**
 * Bytes the fleet's agents write to each other. Every agent of the
 * simulator runs in this process and libp2p's TCP transport writes through
 * node:net sockets, so counting what `Socket.write` is handed counts the
 * fleet's whole traffic, once (each byte is written by one side). Control
 * sockets are Deno's own and are not counted.
 */

import net from "node:net";

let written = 0;
let installed = false;

/** Starts counting; call before the first agent starts. Idempotent. */
export function countWireBytes(): void {
  if (installed) return;
  installed = true;
  const original = net.Socket.prototype.write;
  // deno-lint-ignore no-explicit-any
  net.Socket.prototype.write = function (this: net.Socket, chunk: any, ...rest: any[]) {
    if (typeof chunk === "string") written += new TextEncoder().encode(chunk).byteLength;
    else if (chunk?.byteLength !== undefined) written += chunk.byteLength;
    // deno-lint-ignore no-explicit-any
    return (original as any).call(this, chunk, ...rest);
  } as typeof original;
}

/** Bytes written so far by every agent together. */
export function wireBytes(): number {
  return written;
}
