/**
 * The agent's Ed25519 identity. Made on first start and stored in the state
 * dir (mode 0600) so the peer id stays the same across restarts.
 */

import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "./libp2p.ts";
import type { PrivateKey } from "@libp2p/interface";
import { StateDirError } from "../errors.ts";
import { inDir } from "../config/paths.ts";
import { reason } from "../store/state_dir.ts";
import { octalMode, openToOthers } from "../util/owner_only.ts";

export const IDENTITY_FILE = "identity.key";

/** Loads the identity from `stateDir`, creating it on first use. */
export async function loadIdentity(stateDir: string): Promise<PrivateKey> {
  const path = inDir(stateDir, IDENTITY_FILE);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new StateDirError(`Cannot read identity "${path}": ${reason(error)}`, {
        cause: error,
      });
    }
    return await createIdentity(path);
  }
  if (Deno.build.os !== "windows") {
    const { mode } = await Deno.stat(path);
    if (openToOthers(mode)) {
      throw new StateDirError(
        `Identity "${path}" is readable by other users (mode ${octalMode(mode!)}). Run: chmod 600 "${path}"`,
      );
    }
  }
  try {
    return privateKeyFromProtobuf(bytes);
  } catch (error) {
    throw new StateDirError(
      `Identity "${path}" is damaged (${reason(error)}). Move it away to make a new one; the peer id will change.`,
      { cause: error },
    );
  }
}

async function createIdentity(path: string): Promise<PrivateKey> {
  const key = await generateKeyPair("Ed25519");
  // createNew: two agents racing on one state dir must not swap keys.
  await Deno.writeFile(path, privateKeyToProtobuf(key), { mode: 0o600, createNew: true });
  return key;
}
