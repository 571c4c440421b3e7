/** `hark network create|join|show`: make, join and share a private network. */

import type { Command, CommandContext } from "./command.ts";
import { print, printError } from "./command.ts";
import { decodeToken, encodeToken, loadNetwork, type Network, newNetwork, saveNetwork } from "../mesh/network.ts";
import { HarkError, NoAgentError, UsageError } from "../errors.ts";
import { requestAgent } from "../control/client.ts";
import { prepareStateDir } from "../store/state_dir.ts";
import { loadConfig } from "./load_config.ts";
import { jsonForTerminal } from "../util/controls.ts";

export const networkCommand: Command = {
  name: "network",
  usage: "hark network create [NAME] [--force] | join TOKEN | show",
  help: `A network is defined by its key: only agents that hold it can connect.

  create [NAME]   make a new network with a fresh key; prints its join token.
  join TOKEN      store the key and bootstrap peers from a join token.
  show            print this network's join token again.

Options:
      --force     with create: replace the network this agent is in now
      --json      with create and show: print name, token and addresses as JSON

The token holds the network key: share it only with machines that should
join. Restart a running agent after create or join.

Examples:
  hark network create office                # prints the join token
  hark network join hark1:eyJuIjoib2ZmaWNl…  # on each other machine, the whole token
  hark network show --json | jq -r .token
  hark network create lab --force           # leave this network for a new one`,
  options: { force: { type: "boolean" } },
  async run(context) {
    const [action, ...rest] = context.positionals;
    switch (action) {
      case "create":
        if (rest.length > 1) throw new UsageError("network create takes at most one NAME");
        return await create(context, rest[0]);
      case "join":
        if (rest.length !== 1) throw new UsageError("network join takes exactly one TOKEN");
        return await join(context, rest[0]);
      case "show":
        if (rest.length > 0) throw new UsageError("network show takes no arguments");
        return await show(context);
      default:
        throw new UsageError(
          action === undefined
            ? "network needs an action: create, join or show"
            : `unknown network action "${action}"; use create, join or show`,
        );
    }
  },
};

async function create({ global, values }: CommandContext, name?: string): Promise<number> {
  await prepareStateDir(global.stateDir);
  const current = await loadNetwork(global.stateDir);
  if (current && !values.force) {
    throw new HarkError(
      `this agent is already in network "${current.name}"; \`hark network show\` prints its token, or add --force to replace it with a new one`,
    );
  }
  const network = newNetwork(name);
  await saveNetwork(global.stateDir, network);
  await report(global, network, `Created network "${network.name}".`);
  return 0;
}

async function join({ global }: CommandContext, token: string): Promise<number> {
  const network = decodeToken(token);
  await prepareStateDir(global.stateDir);
  const current = await loadNetwork(global.stateDir);
  await saveNetwork(global.stateDir, network);
  const left = current && current.name !== network.name ? ` (left network "${current.name}")` : "";
  printError(
    `Joined network "${network.name}" with ${network.peers.length} bootstrap address(es)${left}.`,
  );
  if (await agentRunning(global.stateDir)) printError("Restart the agent to connect with the new key.");
  return 0;
}

async function show({ global }: CommandContext): Promise<number> {
  const network = await loadNetwork(global.stateDir);
  if (!network) {
    throw new HarkError(
      `no network in state dir "${global.stateDir}" yet: \`hark network create\` makes one, \`hark network join TOKEN\` joins one`,
    );
  }
  await report(global, network);
  return 0;
}

async function report(global: CommandContext["global"], network: Network, headline?: string): Promise<void> {
  const running = await agentRunning(global.stateDir);
  const addresses = await dialableAddresses(global);
  const token = encodeToken(network, addresses);
  if (global.json) {
    print(jsonForTerminal({ name: network.name, token, addresses }, 2));
    return;
  }
  if (headline) printError(headline);
  print(token);
  printError(`\nOn another machine, run:\n  hark network join ${token}`);
  if (addresses.length === 0) {
    printError("No dialable address is known yet: start the agent, then `hark network show` prints a token with them.");
  }
  if (headline && running) printError("Restart the agent to use the new key.");
}

async function agentRunning(stateDir: string): Promise<boolean> {
  try {
    await requestAgent(stateDir, { op: "id" });
    return true;
  } catch (error) {
    if (error instanceof NoAgentError) return false;
    throw error;
  }
}

/** From the running agent if there is one; otherwise from the config and identity. */
async function dialableAddresses(global: CommandContext["global"]): Promise<string[]> {
  try {
    return (await requestAgent(global.stateDir, { op: "id" })).addresses as string[];
  } catch (error) {
    if (!(error instanceof NoAgentError)) throw error;
  }
  const config = await loadConfig({ path: global.config, stateDir: global.stateDir, flags: {} });
  const { loadIdentity } = await import("../mesh/identity.ts");
  const { peerIdFromPrivateKey } = await import("../mesh/libp2p.ts");
  const peer = peerIdFromPrivateKey(await loadIdentity(global.stateDir)).toString();
  const interfaces = Deno.networkInterfaces().filter((i) => i.family === "IPv4" && !i.address.startsWith("127."));
  const out: string[] = [];
  for (const listen of config.network.listen) {
    const match = /^\/ip4\/([\d.]+)\/tcp\/(\d+)$/.exec(listen);
    // Port 0 is picked at start; only the running agent knows it.
    if (!match || match[2] === "0") continue;
    const hosts = match[1] === "0.0.0.0" ? interfaces.map((i) => i.address) : [match[1]];
    for (const host of hosts) out.push(`/ip4/${host}/tcp/${match[2]}/p2p/${peer}`);
  }
  return [...new Set(out)];
}
