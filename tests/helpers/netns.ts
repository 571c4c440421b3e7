/**
 * Simulated hosts: network namespaces joined by a Linux bridge, addressed
 * from 198.18.0.0/15 (reserved for benchmarks, never routed). Needs root and
 * iproute2; `netnsAvailable()` tells whether they are there.
 */

import { haveTools, unavailable } from "./tools.ts";

export interface Host {
  name: string;
  address: string;
}

async function ip(args: string[]): Promise<void> {
  const output = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!output.success) {
    throw new Error(`ip ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
  }
}

/**
 * True when this process can create network namespaces. Otherwise the tests
 * named `what` are reported unavailable (see tools.ts): failed under
 * .ci/run, which runs as root and installs iproute2, skipped elsewhere.
 */
export async function netnsAvailable(what: string): Promise<boolean> {
  if (!haveTools(what, ["ip"])) return false;
  const probe = `hark-probe-${Deno.pid}`;
  try {
    await ip(["netns", "add", probe]);
    await ip(["netns", "del", probe]);
    return true;
  } catch (error) {
    unavailable(what, `cannot create a network namespace (needs root): ${(error as Error).message}`);
    return false;
  }
}

/**
 * `count` hosts on 198.18.<subnet>.0/24; `await using` removes it all. With
 * `split`, hosts after the first `split` sit on a second bridge, joined to
 * the first by one link (the trunk) that `partition` and `heal` take down
 * and bring back up.
 */
export class Lan {
  readonly hosts: Host[] = [];
  readonly #bridges: string[];
  readonly #trunk: string;

  private constructor(tag: string) {
    this.#bridges = [`hb${tag}`, `hb${tag}b`];
    this.#trunk = `ht${tag}`;
  }

  static async create(count: number, subnet = 0, split = count): Promise<Lan> {
    // Names are short (15-char limit) and unique per test process.
    const tag = `${Deno.pid % 100000}${subnet}`;
    const lan = new Lan(tag);
    const [first, second] = lan.#bridges;
    try {
      await ip(["link", "add", first, "type", "bridge"]);
      await ip(["link", "set", first, "up"]);
      if (split < count) {
        await ip(["link", "add", second, "type", "bridge"]);
        await ip(["link", "set", second, "up"]);
        await ip(["link", "add", lan.#trunk, "type", "veth", "peer", "name", `${lan.#trunk}b`]);
        await ip(["link", "set", lan.#trunk, "master", first, "up"]);
        await ip(["link", "set", `${lan.#trunk}b`, "master", second, "up"]);
      }
      for (let i = 1; i <= count; i++) {
        const name = `hn${tag}h${i}`;
        const address = `198.18.${subnet}.${i}`;
        await ip(["netns", "add", name]);
        lan.hosts.push({ name, address });
        await ip(["link", "add", `hv${tag}h${i}`, "type", "veth", "peer", "name", "eth0", "netns", name]);
        await ip(["link", "set", `hv${tag}h${i}`, "master", i <= split ? first : second, "up"]);
        await ip(["-n", name, "addr", "add", `${address}/24`, "dev", "eth0"]);
        await ip(["-n", name, "link", "set", "eth0", "up"]);
        await ip(["-n", name, "link", "set", "lo", "up"]);
        // mDNS sends to 224.0.0.251; without a route for it the send fails.
        await ip(["-n", name, "route", "add", "224.0.0.0/4", "dev", "eth0"]);
      }
    } catch (error) {
      await lan[Symbol.asyncDispose]();
      throw error;
    }
    return lan;
  }

  /** Cuts the trunk: the two groups of hosts can no longer reach each other. */
  async partition(): Promise<void> {
    await ip(["link", "set", this.#trunk, "down"]);
  }

  async heal(): Promise<void> {
    await ip(["link", "set", this.#trunk, "up"]);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const host of this.hosts) await ip(["netns", "del", host.name]).catch(() => {});
    await ip(["link", "del", this.#trunk]).catch(() => {});
    for (const bridge of this.#bridges) await ip(["link", "del", bridge]).catch(() => {});
  }
}
