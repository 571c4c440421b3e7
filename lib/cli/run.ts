/** `hark run`: the agent in the foreground, until SIGINT or SIGTERM. */

import type { Command } from "./command.ts";
import { loadConfig } from "./load_config.ts";
import { parseLogLevel, setupLogging } from "../log.ts";
import { checkTopic } from "../event/event.ts";
import { HarkError, UsageError } from "../errors.ts";
import { HeapTrim } from "../heap_trim.ts";
import { guardProcess } from "../uncaught.ts";

/** A stop that takes longer than this is abandoned; SPEC promises 2 s. */
const STOP_DEADLINE_MS = 1800;

export const runCommand: Command = {
  name: "run",
  usage: "hark run [options]",
  help: `Runs the agent until SIGINT or SIGTERM. Flags add to the config file.

Options:
      --listen ADDR    listen on this multiaddr (repeatable), e.g. /ip4/0.0.0.0/tcp/4001
      --peer ADDR      keep this peer connected (repeatable)
      --topic T        subscribe to this topic (repeatable)
      --host NAME      name shown as the source of events
      --no-mdns        do not look for peers with mDNS
      --log-file FILE  log to FILE instead of stderr, rotated at 10 MiB with five
                       old files kept (how \`hark service install\` runs the agent)

Environment: HARK_LISTEN, HARK_PEERS, HARK_TOPICS (comma-separated),
HARK_HOST, HARK_MDNS=true|false, HARK_CONFIG, HARK_STATE_DIR, HARK_LOG_FILE.

Examples:
  hark run                                   # config file, mDNS, default port 4001
  hark run --peer /dns4/gw.example.org/tcp/4001 --topic builds --topic alerts
  hark run --listen /ip4/0.0.0.0/tcp/4002 --no-mdns --log-level debug`,
  options: {
    listen: { type: "string", multiple: true },
    peer: { type: "string", multiple: true },
    topic: { type: "string", multiple: true },
    host: { type: "string" },
    "no-mdns": { type: "boolean" },
    "log-file": { type: "string" },
  },
  async run({ global, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`run takes no arguments, got "${positionals[0]}"`);
    const logFile = values["log-file"] ?? Deno.env.get("HARK_LOG_FILE");
    if (logFile === "") throw new UsageError("--log-file needs a file name");
    setupLogging(parseLogLevel(global.logLevel), logFile);
    // Before libp2p loads: one stray rejection in a library must not end the agent.
    guardProcess();
    for (const topic of values.topic ?? []) checkTopic(topic);
    const config = await loadConfig({
      path: global.config,
      stateDir: global.stateDir,
      flags: {
        network: { listen: values.listen, peers: values.peer, mdns: values["no-mdns"] ? false : undefined },
        agent: { topics: values.topic, host: values.host },
      },
    });
    // Loaded only here: libp2p is large and the other commands do not need it.
    const { Agent } = await import("../agent.ts");
    const agent = new Agent({ config, stateDir: global.stateDir });
    await agent.start();
    // One per process, not per Agent: a simulator runs many agents in one heap.
    const heapTrim = new HeapTrim();
    heapTrim.start();
    await waitForSignal();
    heapTrim.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), STOP_DEADLINE_MS));
    const outcome = await Promise.race([agent.stop(), deadline]);
    clearTimeout(timer);
    if (outcome === "late") throw new HarkError("stopping took too long; exiting anyway");
    return 0;
  },
};

function waitForSignal(): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    const onSignal = () => {
      for (const signal of signals) Deno.removeSignalListener(signal, onSignal);
      resolve();
    };
    for (const signal of signals) Deno.addSignalListener(signal, onSignal);
  });
}
