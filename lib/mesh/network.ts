/**
 * Network membership. A hark network is defined by its key: a libp2p
 * private-network pre-shared key (swarm-key format) that every connection
 * must prove. The key, the network's name and the bootstrap peers learned
 * from a join token live in the state dir, readable only by the owner.
 *
 * A join token is one copy-pasteable string, `hark1:` + base64url(JSON),
 * holding the name, the key and the inviting agent's dialable addresses.
 * Whoever holds a token can join: treat it like a password.
 */

import { ConfigError, HarkError } from "../errors.ts";
import { inDir } from "../config/paths.ts";
import { reason } from "../store/state_dir.ts";
import { writePrivateFile } from "../util/files.ts";
import { octalMode, openToOthers } from "../util/owner_only.ts";

export const KEY_FILE = "swarm.key";
export const NETWORK_FILE = "network.json";
const TOKEN_PREFIX = "hark1:";
const KEY_HEADER = "/key/swarm/psk/1.0.0/\n/base16/\n";
const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export interface Network {
  name: string;
  /** The 32-byte secret. */
  secret: Uint8Array;
  /** Bootstrap peers from the join token. */
  peers: string[];
}

function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function fromHex(text: string): Uint8Array | undefined {
  if (!/^[0-9a-fA-F]{64}$/.test(text)) return undefined;
  return Uint8Array.from(text.match(/../g)!, (pair) => parseInt(pair, 16));
}

/** The key in the swarm-key file format that `@libp2p/pnet` reads. */
export function swarmKey(network: Network): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(KEY_HEADER + toHex(network.secret));
}

export function checkNetworkName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new HarkError(`invalid network name "${name}": use 1-64 letters, digits, ".", "_" or "-"`);
  }
  return name;
}

/** A new network with a fresh random key. */
export function newNetwork(name?: string): Network {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  // The default name is random on its own: a name is shown and shared, the key never.
  const suffix = toHex(crypto.getRandomValues(new Uint8Array(4)));
  return { name: checkNetworkName(name ?? `net-${suffix}`), secret, peers: [] };
}

/**
 * The mDNS service name for this network. Agents answer only queries for
 * their own network, so a LAN with several networks keeps them apart. It is
 * derived from the key by a one-way hash and reveals nothing of it.
 */
export async function mdnsServiceTag(network: Network): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", swarmKey(network)));
  return `_hark-${toHex(digest.subarray(0, 6))}._udp.local`;
}

export function encodeToken(network: Network, addresses: string[]): string {
  const json = JSON.stringify({ n: network.name, k: toHex(network.secret), a: addresses });
  const base64 = btoa(String.fromCharCode(...new TextEncoder().encode(json)));
  return TOKEN_PREFIX + base64.replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function decodeToken(token: string): Network {
  const text = token.trim();
  const invalid = (why: string) =>
    new HarkError(`invalid join token (${why}); copy the whole token that \`hark network show\` prints`);
  if (!text.startsWith(TOKEN_PREFIX)) throw invalid(`it does not start with "${TOKEN_PREFIX}"`);
  let value: { n?: unknown; k?: unknown; a?: unknown };
  try {
    const base64 = text.slice(TOKEN_PREFIX.length).replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw invalid("it is damaged or cut short");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid("it is damaged or cut short");
  const secret = typeof value.k === "string" ? fromHex(value.k) : undefined;
  if (!secret) throw invalid("no valid key in it");
  if (typeof value.n !== "string" || !NAME_PATTERN.test(value.n)) throw invalid("no valid network name in it");
  if (!Array.isArray(value.a) || value.a.some((address) => typeof address !== "string")) {
    throw invalid("its address list is not a list of strings");
  }
  return { name: value.n, secret, peers: value.a as string[] };
}

/** Reads the network of a state dir; undefined when it has none yet. */
export async function loadNetwork(stateDir: string): Promise<Network | undefined> {
  const keyPath = inDir(stateDir, KEY_FILE);
  let keyText: string;
  try {
    keyText = await Deno.readTextFile(keyPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new HarkError(`Cannot read network key "${keyPath}": ${reason(error)}`, { cause: error });
  }
  await refuseOpenFile(keyPath);
  const secret = keyText.startsWith(KEY_HEADER) ? fromHex(keyText.slice(KEY_HEADER.length).trim()) : undefined;
  if (!secret) {
    throw new ConfigError(
      `Network key "${keyPath}" is not a swarm key; run \`hark network join TOKEN\` or \`hark network create\``,
    );
  }
  let meta: { name?: string; peers?: string[] } = {};
  try {
    meta = JSON.parse(await Deno.readTextFile(inDir(stateDir, NETWORK_FILE)));
    if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
      throw new ConfigError(`"${inDir(stateDir, NETWORK_FILE)}" is not a JSON object; run \`hark network join TOKEN\``);
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ConfigError(`Cannot read "${inDir(stateDir, NETWORK_FILE)}": ${reason(error)}`, { cause: error });
    }
  }
  return {
    name: typeof meta.name === "string" && NAME_PATTERN.test(meta.name) ? meta.name : "unnamed",
    secret,
    peers: Array.isArray(meta.peers) ? meta.peers.filter((peer) => typeof peer === "string") : [],
  };
}

/** Stores a network in a state dir (key and metadata, mode 0600). */
export async function saveNetwork(stateDir: string, network: Network): Promise<void> {
  await writePrivateFile(inDir(stateDir, KEY_FILE), swarmKey(network));
  await writePrivateFile(
    inDir(stateDir, NETWORK_FILE),
    new TextEncoder().encode(JSON.stringify({ name: network.name, peers: network.peers }, null, 2) + "\n"),
  );
}

async function refuseOpenFile(path: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  const { mode } = await Deno.stat(path);
  if (openToOthers(mode)) {
    throw new HarkError(
      `Network key "${path}" is readable by other users (mode ${octalMode(mode!)}). Run: chmod 600 "${path}"`,
    );
  }
}
