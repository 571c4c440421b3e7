/**
 * Fixes for Deno that must be in place before libp2p loads. Import this
 * module before any libp2p module.
 *
 * mortice (libp2p's lock) opens a BroadcastChannel to coordinate worker
 * threads and calls `channel.unref?.()` so it will not hold the process open.
 * Deno's BroadcastChannel has no `unref`, so an agent would never exit after
 * stopping. hark runs libp2p in one thread only, so nobody can post on that
 * channel and closing it is the exact equivalent of Node's `unref`.
 */

declare global {
  interface BroadcastChannel {
    unref?: () => void;
  }
}

if (typeof BroadcastChannel === "function" && !("unref" in BroadcastChannel.prototype)) {
  Object.defineProperty(BroadcastChannel.prototype, "unref", {
    value: function unref(this: BroadcastChannel) {
      this.close();
    },
    configurable: true,
    writable: true,
  });
}

export {};
