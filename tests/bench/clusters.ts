/**
 * The systems under comparison, each as a cluster of real processes on
 * loopback: hark agents, Serf agents with an event-handler script, and one
 * Mosquitto broker with mosquitto_sub subscribers. Each receiver appends
 * what it gets to a file; the bench watches those files.
 */

import { AgentProcess, startAgent } from "../helpers/hark.ts";
import { HARK_LAZY_IMPORTS_FLAG } from "../../lib/service/program.ts";
import { waitFor } from "../helpers/wait.ts";
import type { MarkerOf } from "./arrivals.ts";

export interface Cluster {
  readonly name: string;
  /** The files receivers append to, one per receiver. */
  readonly files: string[];
  readonly markerOf: MarkerOf;
  /** argv of the command that publishes one event carrying `marker`. */
  sendArgv(marker: string): string[];
  /** The long-running processes (agents, broker), for footprint figures. */
  pids(): number[];
  stop(): Promise<void>;
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * `hark send` as a compiled binary runs it: without the project's deno.json
 * and lockfile, and loading only the modules it imports. From source, Deno
 * resolves every npm package the project names and loads the module graph
 * of every command before running any code, although `send` needs neither;
 * a binary from `deno compile` carries its module graph and does not.
 * tests/send_test.ts checks that `send` runs like this.
 */
export function harkSendArgv(stateDir: string, ...args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    "--allow-all",
    "--quiet",
    "--no-config",
    HARK_LAZY_IMPORTS_FLAG,
    MAIN,
    "send",
    "--state-dir",
    stateDir,
    ...args,
  ];
}

/** A free TCP port on loopback (closed again before use: a benchmark, not a test). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** hark config for the bench: loopback, file sink only, no rate limit in the way. */
export function benchConfig(peers: string[]): string {
  return `[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
peers = ${JSON.stringify(peers)}
publisher_rate = 1000000
publisher_burst = 1000000

[[sink]]
type = "file"
queue = 100000
`;
}

/** Starts `count` agents, every one connected to every other (as mDNS would on a LAN). */
export async function startHarkAgents(count: number): Promise<AgentProcess[]> {
  const agents: AgentProcess[] = [];
  try {
    // One at a time, each dialing every agent before it: a full mesh.
    for (let i = 0; i < count; i++) {
      agents.push(await startAgent({ config: benchConfig(agents.flatMap((agent) => agent.addresses)) }));
    }
    const ids = agents.map((agent) => agent.peerId);
    await Promise.all(
      agents.map((agent) => agent.waitForPeers(ids.filter((id) => id !== agent.peerId), "default", 90_000)),
    );
    return agents;
  } catch (error) {
    await Promise.all(agents.map((agent) => agent[Symbol.asyncDispose]()));
    throw error;
  }
}

export class HarkCluster implements Cluster {
  readonly name = "hark";
  readonly agents: AgentProcess[];
  readonly files: string[];
  readonly markerOf: MarkerOf = (line) => {
    try {
      return JSON.parse(line).body;
    } catch {
      return undefined;
    }
  };

  private constructor(agents: AgentProcess[]) {
    this.agents = agents;
    // Agent 0 publishes; the clock stops when every other agent has it.
    this.files = agents.slice(1).map((agent) => `${agent.stateDir}/events.jsonl`);
  }

  static async start(count: number): Promise<HarkCluster> {
    return new HarkCluster(await startHarkAgents(count));
  }

  sendArgv(marker: string): string[] {
    return harkSendArgv(this.agents[0].stateDir, marker);
  }

  pids(): number[] {
    return this.agents.map((agent) => agent.child.pid);
  }

  async stop(): Promise<void> {
    await Promise.all(this.agents.map((agent) => agent[Symbol.asyncDispose]()));
  }
}

/** A process started for a cluster, stopped with SIGTERM. */
function spawn(argv: string[], options: { stdout?: string } = {}): Deno.ChildProcess {
  const [command, ...args] = argv;
  if (options.stdout) {
    // Shell redirection keeps the subscriber writing straight to its file.
    return new Deno.Command("sh", {
      args: ["-c", `exec "$@" >> "${options.stdout}"`, "sh", command, ...args],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  }
  return new Deno.Command(command, { args, stdin: "null", stdout: "null", stderr: "null" }).spawn();
}

async function stopAll(children: Deno.ChildProcess[]): Promise<void> {
  for (const child of children) {
    try {
      child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  }
  await Promise.all(children.map((child) => child.status));
}

async function run(argv: string[]): Promise<string> {
  const [command, ...args] = argv;
  const output = await new Deno.Command(command, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  return new TextDecoder().decode(output.stdout);
}

export class SerfCluster implements Cluster {
  readonly name = "serf";
  readonly files: string[];
  readonly markerOf: MarkerOf = (line) => line.trim() || undefined;
  #dir: string;
  #children: Deno.ChildProcess[];
  #rpc: string;

  private constructor(dir: string, children: Deno.ChildProcess[], files: string[], rpc: string) {
    this.#dir = dir;
    this.#children = children;
    this.files = files;
    this.#rpc = rpc;
  }

  static async start(count: number): Promise<SerfCluster> {
    const dir = await Deno.makeTempDir({ prefix: "hark-bench-serf-" });
    const handler = `${dir}/handler.sh`;
    // Serf hands the payload to the handler on stdin.
    await Deno.writeTextFile(handler, `#!/bin/sh\n{ cat; echo; } >> "$1"\n`, { mode: 0o755 });
    const children: Deno.ChildProcess[] = [];
    const files: string[] = [];
    const binds: string[] = [];
    const rpcs: string[] = [];
    for (let i = 0; i < count; i++) {
      const bind = `127.0.0.1:${freePort()}`;
      const rpc = `127.0.0.1:${freePort()}`;
      const file = `${dir}/node${i}.log`;
      await Deno.writeTextFile(file, "");
      children.push(spawn([
        "serf",
        "agent",
        `-node=n${i}`,
        `-bind=${bind}`,
        `-rpc-addr=${rpc}`,
        `-event-handler=user:bench=${handler} ${file}`,
        "-log-level=err",
      ]));
      files.push(file);
      binds.push(bind);
      rpcs.push(rpc);
    }
    const cluster = new SerfCluster(dir, children, files, rpcs[0]);
    try {
      for (let i = 1; i < count; i++) {
        await waitFor(
          async () => (await run(["serf", "join", `-rpc-addr=${rpcs[i]}`, binds[0]])).includes("Successfully"),
          {
            timeoutMs: 20_000,
            message: `serf node ${i} to join`,
          },
        );
      }
      await waitFor(
        async () =>
          (await run(["serf", "members", `-rpc-addr=${rpcs[0]}`, "-status=alive"])).trim().split("\n").length === count,
        {
          timeoutMs: 30_000,
          message: "every serf node to be alive",
        },
      );
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  sendArgv(marker: string): string[] {
    // Coalescing would hold events back on purpose; the fastest fair setting is off.
    return ["serf", "event", "-coalesce=false", `-rpc-addr=${this.#rpc}`, "bench", marker];
  }

  pids(): number[] {
    return this.#children.map((child) => child.pid);
  }

  async stop(): Promise<void> {
    await stopAll(this.#children);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

export class MosquittoCluster implements Cluster {
  readonly name = "mosquitto";
  readonly files: string[];
  readonly markerOf: MarkerOf = (line) => line.trim() || undefined;
  readonly port: number;
  #dir: string;
  #broker: Deno.ChildProcess;
  #subscribers: Deno.ChildProcess[];

  private constructor(
    dir: string,
    broker: Deno.ChildProcess,
    subscribers: Deno.ChildProcess[],
    files: string[],
    port: number,
  ) {
    this.#dir = dir;
    this.#broker = broker;
    this.#subscribers = subscribers;
    this.files = files;
    this.port = port;
  }

  static async start(count: number, topic = "bench"): Promise<MosquittoCluster> {
    const dir = await Deno.makeTempDir({ prefix: "hark-bench-mosquitto-" });
    const port = freePort();
    await Deno.writeTextFile(`${dir}/mosquitto.conf`, `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
    const broker = spawn(["mosquitto", "-c", `${dir}/mosquitto.conf`]);
    await waitFor(async () => {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return true;
      } catch {
        return false;
      }
    }, { message: "mosquitto to listen" });
    const files: string[] = [];
    const subscribers: Deno.ChildProcess[] = [];
    for (let i = 0; i < count; i++) {
      const file = `${dir}/sub${i}.log`;
      await Deno.writeTextFile(file, "");
      subscribers.push(spawn(["mosquitto_sub", "-h", "127.0.0.1", "-p", String(port), "-t", topic], { stdout: file }));
      files.push(file);
    }
    return new MosquittoCluster(dir, broker, subscribers, files, port);
  }

  sendArgv(marker: string): string[] {
    return ["mosquitto_pub", "-h", "127.0.0.1", "-p", String(this.port), "-t", "bench", "-m", marker];
  }

  pids(): number[] {
    return [this.#broker.pid];
  }

  async stop(): Promise<void> {
    await stopAll([...this.#subscribers, this.#broker]);
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}
