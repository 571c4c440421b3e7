/**
 * Runs hark as a user would: `hark run` agents as real processes, each with
 * its own state dir, and CLI commands as separate processes.
 */

import { ControlClient } from "../../lib/control/client.ts";
import type { HarkEvent } from "../../lib/event/event.ts";
import { type Network, newNetwork, saveNetwork } from "../../lib/mesh/network.ts";
import { waitFor } from "./wait.ts";
import { HARK_LAZY_IMPORTS_FLAG, HARK_V8_FLAGS } from "../../lib/service/program.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const decoder = new TextDecoder();

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  stdin?: string;
  env?: Record<string, string>;
  /** Run inside this network namespace. */
  netns?: string;
  /** Flags for `deno run`, before the script. */
  denoFlags?: string[];
}

function harkArgv(args: string[], netns?: string, denoFlags: string[] = []): [string, string[]] {
  const deno = Deno.execPath();
  // The V8 flags a compiled hark carries, so tests and benchmarks measure what ships.
  const argv = [
    "run",
    "--allow-all",
    "--quiet",
    `--v8-flags=${HARK_V8_FLAGS}`,
    HARK_LAZY_IMPORTS_FLAG,
    ...denoFlags,
    MAIN,
    ...args,
  ];
  return netns ? ["ip", ["netns", "exec", netns, deno, ...argv]] : [deno, argv];
}

/** Runs one `hark` command to completion. */
export async function hark(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const [command, argv] = harkArgv(args, options.netns, options.denoFlags);
  const child = new Deno.Command(command, {
    args: argv,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const output = await child.output();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

export interface AgentOptions {
  /** TOML config text; written to a file in a fresh directory. */
  config?: string;
  /** Extra `hark run` arguments. */
  args?: string[];
  /** Reuse this state dir (to restart an agent). */
  stateDir?: string;
  /** Remove the given `stateDir` when the agent is disposed. */
  removeStateDir?: boolean;
  netns?: string;
  env?: Record<string, string>;
  /**
   * The network a new state dir starts in: by default the one all test
   * agents share; "own" lets the agent create its own on first start.
   */
  network?: Network | "own";
  /** Flags for `deno run` itself, such as `--cpu-prof` for a profile of the agent. */
  denoFlags?: string[];
}

/** One network for every agent of this test process, unless a test says otherwise. */
export const TEST_NETWORK: Network = newNetwork("test");

/**
 * Config for a loopback-only agent with no mDNS and the given bootstrap
 * peers. `network` adds lines to the [network] table; `extra` adds tables.
 */
export function loopbackConfig(peers: string[] = [], extra = "", network = ""): string {
  return `[network]
listen = ["/ip4/127.0.0.1/tcp/0"]
mdns = false
peers = ${JSON.stringify(peers)}
${network}
${extra}`;
}

/** A running `hark run` process. `await using` stops it and removes its files. */
export class AgentProcess {
  readonly stateDir: string;
  readonly child: Deno.ChildProcess;
  readonly #ownsStateDir: boolean;
  #stderr = "";
  #stdout = "";
  #exited: Promise<Deno.CommandStatus>;
  #status?: Deno.CommandStatus;
  peerId = "";
  addresses: string[] = [];

  constructor(child: Deno.ChildProcess, stateDir: string, ownsStateDir: boolean) {
    this.child = child;
    this.stateDir = stateDir;
    this.#ownsStateDir = ownsStateDir;
    const collect = async (stream: ReadableStream<Uint8Array>, into: "stdout" | "stderr") => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        if (into === "stdout") this.#stdout += chunk;
        else this.#stderr += chunk;
      }
    };
    const streams = Promise.all([collect(child.stdout, "stdout"), collect(child.stderr, "stderr")]);
    this.#exited = child.status.then(async (status) => {
      await streams;
      this.#status = status;
      return status;
    });
  }

  get stderr(): string {
    return this.#stderr;
  }

  get stdout(): string {
    return this.#stdout;
  }

  get exited(): Promise<Deno.CommandStatus> {
    return this.#exited;
  }

  get running(): boolean {
    return this.#status === undefined;
  }

  /** Runs a CLI command against this agent. */
  cli(args: string[], options: CliOptions = {}): Promise<CliResult> {
    return hark([...args, "--state-dir", this.stateDir], options);
  }

  /** Publishes through the CLI and returns the event id. */
  async send(args: string[]): Promise<string> {
    const result = await this.cli(["send", ...args]);
    if (result.code !== 0) throw new Error(`hark send failed (${result.code}): ${result.stderr}`);
    return result.stdout.trim();
  }

  /** Events in the default file sink. */
  async events(): Promise<HarkEvent[]> {
    try {
      const text = await Deno.readTextFile(`${this.stateDir}/events.jsonl`);
      return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  }

  /** Waits until the file sink holds an event with each id; returns all events. */
  async waitForEvents(ids: string[], timeoutMs = 15_000): Promise<HarkEvent[]> {
    return await waitFor(async () => {
      const events = await this.events();
      const seen = new Set(events.map((event) => event.id));
      return ids.every((id) => seen.has(id)) && events;
    }, { timeoutMs, intervalMs: 50, message: `${this.stateDir} to receive ${ids.length} events` });
  }

  /** Sends a control request straight to the socket. */
  async request(request: { op: string; [key: string]: unknown }) {
    await using client = await ControlClient.connect(this.stateDir);
    return await client.request(request as never);
  }

  /** Peer ids this agent is connected to that also subscribe to `topic`. */
  async peersOn(topic = "default"): Promise<string[]> {
    const reply = await this.request({ op: "peers" });
    return (reply.peers as { peer: string; topics: string[] }[])
      .filter((peer) => peer.topics.includes(topic)).map((peer) => peer.peer);
  }

  /** Waits until this agent sees each peer subscribed to `topic`. */
  async waitForPeers(peers: string[], topic = "default", timeoutMs = 15_000): Promise<void> {
    await waitFor(async () => {
      const connected = new Set(await this.peersOn(topic));
      return peers.every((peer) => connected.has(peer));
    }, {
      timeoutMs,
      intervalMs: 100,
      message: `${this.peerId} to see ${peers.length} peers on ${topic}\n${this.stderr}`,
    });
  }

  /** Sends `signal` and waits for the process to end. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<Deno.CommandStatus> {
    if (this.running) {
      try {
        this.child.kill(signal);
      } catch {
        // Already gone.
      }
    }
    return await this.#exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.running) {
      await Promise.race([this.stop("SIGTERM"), new Promise((resolve) => setTimeout(resolve, 3000))]);
      if (this.running) await this.stop("SIGKILL");
    }
    await Deno.remove(`${this.stateDir}.toml`).catch(() => {});
    if (this.#ownsStateDir) await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
  }
}

/** Starts `hark run` and waits until its control socket answers. */
export async function startAgent(options: AgentOptions = {}): Promise<AgentProcess> {
  const ownsStateDir = options.stateDir === undefined || options.removeStateDir === true;
  const stateDir = options.stateDir ?? await Deno.makeTempDir({ prefix: "hark-test-" });
  if (options.stateDir === undefined && options.network !== "own") {
    await saveNetwork(stateDir, options.network ?? TEST_NETWORK);
  }
  const args = ["run", "--state-dir", stateDir, ...(options.args ?? [])];
  if (options.config !== undefined) {
    const configPath = `${stateDir}.toml`;
    await Deno.writeTextFile(configPath, options.config);
    args.push("--config", configPath);
  }
  const [command, argv] = harkArgv(args, options.netns, options.denoFlags);
  const child = new Deno.Command(command, {
    args: argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Never pick up the config of the user who runs the tests.
    env: { XDG_CONFIG_HOME: `${stateDir}.xdg`, ...options.env },
  }).spawn();
  const agent = new AgentProcess(child, stateDir, ownsStateDir);
  try {
    const reply = await waitFor(async () => {
      if (!agent.running) throw new Error(`agent exited: ${agent.stderr}`);
      try {
        return await agent.request({ op: "id" });
      } catch {
        return undefined;
      }
    }, { timeoutMs: 20_000, message: `agent in ${stateDir} to start` });
    agent.peerId = reply.peer as string;
    agent.addresses = reply.addresses as string[];
  } catch (error) {
    await agent[Symbol.asyncDispose]();
    throw new Error(`${(error as Error).message}\nstderr: ${agent.stderr}`);
  }
  return agent;
}

/**
 * Deno's cache of this process. A child with another HOME would otherwise
 * start with an empty cache and fetch and compile every dependency again
 * (seconds, or a timeout on a busy machine).
 */
export function denoDir(): string {
  const explicit = Deno.env.get("DENO_DIR");
  if (explicit) return explicit;
  if (Deno.build.os === "darwin") return `${Deno.env.get("HOME")}/Library/Caches/deno`;
  return `${Deno.env.get("XDG_CACHE_HOME") || `${Deno.env.get("HOME")}/.cache`}/deno`;
}
