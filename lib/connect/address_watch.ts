/**
 * Notices when this host's own IP addresses change: a laptop that joins
 * another network, a DHCP lease that moves, a link that comes back. TCP
 * connections bound to an address that is gone fail silently, and the
 * link monitor would take up to 25 s to drop them; this lets the
 * mesh check its connections and redial known peers at once.
 *
 * Deno has no way to subscribe to the kernel's address changes, so it
 * polls; reading the interface list costs microseconds.
 */

export interface AddressWatchInit {
  /** Called with the addresses that appeared and those that went away. */
  onChange: (added: string[], removed: string[]) => void;
  /** @default 2000 */
  intervalMs?: number;
  /** For tests. @default the host's addresses, read at most once a second in a process */
  read?: () => string[];
}

export class AddressWatch {
  #init: AddressWatchInit;
  #known = new Set<string>();
  #timer?: ReturnType<typeof setInterval>;

  constructor(init: AddressWatchInit) {
    this.#init = init;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#known = new Set(this.#read());
    this.#timer = setInterval(this.check, this.#init.intervalMs ?? 2000);
    // Never the reason an agent (or a test) stays alive.
    Deno.unrefTimer(this.#timer);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Compares the host's addresses with the last look; runs on the interval. */
  check = (): void => {
    const now = new Set(this.#read());
    const added = [...now].filter((address) => !this.#known.has(address));
    const removed = [...this.#known].filter((address) => !now.has(address));
    this.#known = now;
    if (added.length > 0 || removed.length > 0) this.#init.onChange(added, removed);
  };

  #read(): string[] {
    try {
      return (this.#init.read ?? sharedHostAddresses)();
    } catch {
      return [...this.#known];
    }
  }
}

/** The last reading of the host's addresses, and when it was taken (performance.now()). */
let lastReading: { at: number; addresses: string[] } | undefined;
const READING_MAX_AGE_MS = 1000;

/**
 * hostAddresses(), read at most once a second for every watch in the
 * process: the simulator runs hundreds of agents in one, and their reads of
 * the interface list showed in its idle profile.
 */
function sharedHostAddresses(): string[] {
  const now = performance.now();
  if (!lastReading || now - lastReading.at >= READING_MAX_AGE_MS) lastReading = { at: now, addresses: hostAddresses() };
  return lastReading.addresses;
}

/** This host's addresses that can carry mesh traffic to other hosts: no loopback, no link-local. */
export function hostAddresses(): string[] {
  return Deno.networkInterfaces()
    .filter((i) => !i.address.startsWith("127.") && i.address !== "::1" && !/^fe80:/i.test(i.address))
    .map((i) => i.address);
}
