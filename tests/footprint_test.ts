/**
 * An idle agent holds only the code its config uses (issue 32, part 4).
 * Under `deno compile`, and under `deno run` with lazy dynamic imports as
 * hark always runs, a module behind a string-literal `import()` is loaded
 * when that line runs; what the agent loads at start is the graph of its
 * static imports. These optional parts must stay out of it: together they
 * are about 4 MB of anonymous memory on every agent (tests/bench/README.md).
 * And libp2p comes from vendor/libp2p/bundle/, never from its npm packages:
 * loaded as those (about 470 modules) it costs every agent 9 MB more.
 */

import assert from "node:assert/strict";
import { loopbackConfig, startAgent } from "./helpers/hark.ts";
import { waitFor } from "./helpers/wait.ts";

const ROOT = new URL("../", import.meta.url);

/** Loaded only when a config uses them, and the config option that does. */
const OPTIONAL: [module: string, usedBy: string][] = [
  ["npm:@homebridge/dbus-native", "a desktop sink"],
  ["npm:@libp2p/mdns", "network.mdns"],
  ["vendor/libp2p/bundle/mdns.js", "network.mdns"],
  ["sinks/desktop/mod.ts", "a desktop sink"],
  ["sinks/plugin/mod.ts", "a plugin sink"],
  ["sinks/webhook.ts", "a webhook sink"],
  ["sinks/exec.ts", "an exec sink"],
  ["lib/sources/http.ts", "an http source"],
  ["lib/web/assets.ts", "an http source (the web page)"],
  ["lib/sources/watch.ts", "a watch source"],
  ["lib/sources/fifo.ts", "a fifo source"],
];

interface InfoModule {
  specifier: string;
  dependencies?: { isDynamic?: boolean; code?: { specifier?: string } }[];
}

/** Every module `entry` loads by static import, directly or not, as `deno info` resolves them. */
async function staticGraph(entry: string): Promise<Set<string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    cwd: new URL(".", ROOT),
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { roots: string[]; modules: InfoModule[] };
  const modules = new Map(info.modules.map((module) => [module.specifier, module]));
  const reached = new Set<string>();
  const pending = [...info.roots];
  while (pending.length > 0) {
    const specifier = pending.pop()!;
    if (reached.has(specifier)) continue;
    reached.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      if (!dependency.isDynamic && dependency.code?.specifier) pending.push(dependency.code.specifier);
    }
  }
  return new Set([...reached].map((specifier) => specifier.replace(ROOT.href, "")));
}

Deno.test("the agent loads desktop backends, plugins, mDNS and sources only when its config uses them", async () => {
  const graph = await staticGraph("lib/agent.ts");
  assert.ok(graph.has("lib/mesh/mesh.ts") && graph.has("sinks/mod.ts"), "the graph is the agent's");
  const loaded = OPTIONAL.filter(([module]) =>
    [...graph].some((specifier) => specifier === module || specifier.startsWith(`${module}@`))
  );
  assert.deepEqual(
    loaded.map(([module, usedBy]) => `${module} (needed only by ${usedBy})`),
    [],
    "loaded at start by every agent; import it with a string-literal `await import()` where it is used",
  );
});

/** npm packages that vendor/libp2p/bundle/ holds: the agent must load none of them itself. */
async function bundledPackages(): Promise<Set<string>> {
  const entries = await Promise.all(
    ["mod.ts", "mdns.ts"].map((entry) => Deno.readTextFile(new URL(`vendor/libp2p/${entry}`, ROOT))),
  );
  return new Set(entries.flatMap((text) => [...text.matchAll(/from "([^"]+)"/g)].map(([, specifier]) => specifier)));
}

Deno.test("the agent loads libp2p from its bundle, not from libp2p's npm packages", async () => {
  const graph = await staticGraph("lib/agent.ts");
  assert.ok(graph.has("vendor/libp2p/bundle/mod.js"), "the agent loads vendor/libp2p/bundle/mod.js");
  const bundled = await bundledPackages();
  assert.ok(bundled.has("libp2p") && bundled.has("@libp2p/gossipsub"), "the bundle's entries are read");
  // npm:/@libp2p/utils@7.4.1/sub/path and npm:@libp2p/utils@7.4.1 both name @libp2p/utils.
  const packageOf = (specifier: string) => /^npm:\/?((?:@[^/]+\/)?[^@/]+)/.exec(specifier)?.[1];
  const fromNpm = [...graph].filter((specifier) => {
    const name = packageOf(specifier);
    return name !== undefined && [...bundled].some((entry) => entry === name || entry.startsWith(`${name}/`));
  });
  assert.deepEqual(fromNpm, [], "import these from lib/mesh/libp2p.ts, which loads the bundle");
});

Deno.test("an idle agent hands the heap its start-up grew back to the system once it has settled", async () => {
  // lib/heap_trim.ts: about 30 s after start, then only when the heap grows again.
  await using agent = await startAgent({ config: loopbackConfig(), args: ["--log-level", "debug"] });
  const trimmed = await waitFor(() => /Trimmed the heap from ([\d.]+) to ([\d.]+) MB/.exec(agent.stderr), {
    timeoutMs: 60_000,
    intervalMs: 500,
    message: `the agent to trim its heap\n${agent.stderr}`,
  });
  assert.ok(Number(trimmed[2]) < Number(trimmed[1]), trimmed[0]);
});
