/** `hark run`: the agent in the foreground, until SIGINT or SIGTERM. */

import type { Command } from "./command.ts";
import { loadConfig } from "./load_config.ts";
import { parseLogLevel, setupLogging } from "../log.ts";
import { checkTopic } from "../event.ts";
import { HarkError, UsageError } from "../errors.ts";

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

Environment: HARK_LISTEN, HARK_PEERS, HARK_TOPICS (comma-separated),
HARK_HOST, HARK_MDNS=true|false, HARK_CONFIG, HARK_STATE_DIR.`,
  options: {
    listen: { type: "string", multiple: true },
    peer: { type: "string", multiple: true },
    topic: { type: "string", multiple: true },
    host: { type: "string" },
    "no-mdns": { type: "boolean" },
  },
  async run({ global, values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`run takes no arguments, got "${positionals[0]}"`);
    setupLogging(parseLogLevel(global.logLevel));
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
    await waitForSignal();
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
