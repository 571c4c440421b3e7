/**
 * The libp2p that hark runs: every value hark's code takes from libp2p's npm
 * packages comes from here, so that one copy of each class is loaded. It is
 * vendor/libp2p/bundle/, built from those packages at deno.lock's versions
 * by `deno task vendor`; types come from the packages themselves.
 *
 * Loaded as one bundle instead of about 470 npm modules, libp2p costs an idle
 * agent about 10 MB less anonymous memory (tests/bench/README.md, issue 32).
 */

import type { mdns } from "../../vendor/libp2p/mdns.ts";

export * from "../../vendor/libp2p/bundle/mod.js";

/** libp2p's mDNS discovery, loaded only when a config turns it on. */
export async function loadMdns(): Promise<typeof mdns> {
  return (await import("../../vendor/libp2p/bundle/mdns.js")).mdns;
}
