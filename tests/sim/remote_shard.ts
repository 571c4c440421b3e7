/**
 * A Shard in a child process (shard_process.ts), reached over its stdin and
 * stdout, one JSON message a line. Its stderr is the simulator's, so a crash
 * in the child shows where it happened.
 */

import { lines } from "./json_lines.ts";
import type { ShardOps } from "./shard.ts";

const CHILD = new URL("./shard_process.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
/** Longest wait for a child to stop its agents and exit before it is killed. */
const STOP_DEADLINE_MS = 60_000;

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void; op: string };

export class RemoteShard {
  readonly name: string;
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #pending = new Map<number, Pending>();
  #nextId = 0;
  #exited?: string;
  #stopped?: Promise<void>;
  #reading: Promise<void>;

  /** `inspectPort`: the child listens for a debugger there, to take a CPU profile of a running fleet. */
  constructor(name: string, inspectPort?: number) {
    this.name = name;
    const inspect = inspectPort === undefined ? [] : [`--inspect=127.0.0.1:${inspectPort}`];
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", ...inspect, "--config", CONFIG, CHILD],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#reading = this.#read();
  }

  /** Calls `op` in the child and resolves with its result. */
  call<K extends keyof ShardOps>(op: K, ...args: Parameters<ShardOps[K]>): ReturnType<ShardOps[K]> {
    return this.#call(op, args) as ReturnType<ShardOps[K]>;
  }

  async #call(op: string, args: unknown[]): Promise<unknown> {
    if (this.#exited) throw new Error(`${this.name} ${this.#exited}; see its output above`);
    const id = this.#nextId++;
    const reply = new Promise((resolve, reject) => this.#pending.set(id, { resolve, reject, op }));
    await this.#stdin.write(new TextEncoder().encode(JSON.stringify({ id, op, args }) + "\n"));
    return await reply;
  }

  async #read(): Promise<void> {
    for await (const line of lines(this.#child.stdout)) {
      const message = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(`${this.name}, ${pending.op}: ${message.error}`));
      else pending?.resolve(message.result);
    }
    const status = await this.#child.status;
    this.#exited = status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
    for (const [, pending] of this.#pending) {
      pending.reject(new Error(`${this.name} ${this.#exited} during ${pending.op}; see its output above`));
    }
    this.#pending.clear();
  }

  /** Stops the child's agents and waits for it to exit, killing it past a deadline. Idempotent. */
  stop(): Promise<void> {
    return this.#stopped ??= (async () => {
      if (!this.#exited) await this.#call("stop", []).catch(() => {});
      await this.#stdin.close().catch(() => {});
      const timer = setTimeout(() => {
        try {
          this.#child.kill("SIGKILL");
        } catch {
          // It exited meanwhile.
        }
      }, STOP_DEADLINE_MS);
      await this.#reading;
      clearTimeout(timer);
    })();
  }
}
