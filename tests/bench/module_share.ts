/**
 * What each library adds to a process's anonymous memory: imports the
 * modules named on the command line one after another (by default the
 * agent's own stack, then what it loads only when a config uses it) and
 * prints RssAnon after each, with garbage collected first:
 *
 *   deno run -A --v8-flags=--expose-gc,--max-semi-space-size=2 tests/bench/module_share.ts [SPECIFIER...]
 *
 * Shares depend on order: a module counts what it brings that no earlier one
 * did. Paths starting with "./" are from the project root. libp2p's npm
 * packages can be named too (`libp2p @libp2p/gossipsub ...`), to compare
 * them with vendor/libp2p/bundle/.
 */

const DEFAULT_ORDER = [
  "node:stream",
  "node:crypto",
  "node:net",
  "@logtape/logtape",
  "smol-toml",
  // libp2p with TCP, Noise, Yamux, gossipsub, identify, ping, pnet, circuit relay and DCUtR, as one bundle.
  "./lib/mesh/libp2p.ts",
  "./lib/mesh/mesh.ts",
  "./lib/agent.ts",
  // Loaded only when a config uses them:
  "./vendor/libp2p/bundle/mdns.js",
  "./sinks/desktop/mod.ts",
  "./sinks/plugin/mod.ts",
  "./lib/sources/http.ts",
  "./lib/sources/watch.ts",
];

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) console.error("run with --v8-flags=--expose-gc, or garbage left from loading counts too");

async function anonymousMb(): Promise<number> {
  gc?.();
  // Let V8 finish sweeping and return pages before reading.
  await new Promise((resolve) => setTimeout(resolve, 200));
  gc?.();
  return Number(/RssAnon:\s+(\d+) kB/.exec(await Deno.readTextFile("/proc/self/status"))![1]) / 1024;
}

const specifiers = Deno.args.length > 0 ? Deno.args : DEFAULT_ORDER;
let last = await anonymousMb();
console.log(`${"bare deno".padEnd(28)} ${last.toFixed(1).padStart(6)} MB`);
for (const specifier of specifiers) {
  await import(specifier.startsWith("./") ? new URL(`../../${specifier}`, import.meta.url).href : specifier);
  const now = await anonymousMb();
  console.log(`${specifier.padEnd(28)} ${now.toFixed(1).padStart(6)} MB  +${(now - last).toFixed(1)}`);
  last = now;
}
