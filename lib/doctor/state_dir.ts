/**
 * The state dir and the keys in it: private to their owner, and writable.
 * Read-only: the doctor never creates or changes anything.
 */

import type { Finding } from "./finding.ts";
import { IDENTITY_FILE } from "../mesh/identity.ts";
import { KEY_FILE, NETWORK_FILE } from "../mesh/network.ts";
import { PEERS_FILE } from "../connect/peer_book.ts";
import { inDir } from "../config/paths.ts";
import { reason } from "../store/state_dir.ts";
import { octalMode, openToOthers } from "../util/owner_only.ts";

const CHECK = "state dir and keys";
/** Files only the owner may read: keys, and who this agent talks to. */
const PRIVATE_FILES = [IDENTITY_FILE, KEY_FILE, NETWORK_FILE, PEERS_FILE];

export async function checkStateDir(stateDir: string, os: typeof Deno.build.os = Deno.build.os): Promise<Finding> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(stateDir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return {
        check: CHECK,
        verdict: "ok",
        detail: `${stateDir} does not exist yet; \`hark run\` creates it (mode 0700)`,
      };
    }
    return {
      check: CHECK,
      verdict: "fail",
      detail: `cannot read ${stateDir}: ${reason(error)}`,
      fix: fixAccess(stateDir),
    };
  }
  if (!info.isDirectory) {
    return {
      check: CHECK,
      verdict: "fail",
      detail: `${stateDir} is not a directory`,
      fix: "move that file away, or pick another state dir with --state-dir or HARK_STATE_DIR",
    };
  }
  const posix = os !== "windows";
  if (posix && openToOthers(info.mode)) {
    return {
      check: CHECK,
      verdict: "fail",
      detail: `${stateDir} is open to other users (mode ${
        octalMode(info.mode!)
      }); it holds private keys, so the agent refuses it`,
      fix: `chmod 700 "${stateDir}"`,
    };
  }
  const open: string[] = [];
  const present: string[] = [];
  for (const name of PRIVATE_FILES) {
    const path = inDir(stateDir, name);
    try {
      const file = await Deno.stat(path);
      present.push(name);
      if (posix && openToOthers(file.mode)) open.push(`${name} (mode ${octalMode(file.mode!)})`);
    } catch {
      // Not there yet: created on first start.
    }
  }
  if (open.length > 0) {
    return {
      check: CHECK,
      verdict: "fail",
      detail: `readable by other users: ${open.join(", ")}`,
      fix: `chmod 600 ${open.map((entry) => `"${inDir(stateDir, entry.split(" ")[0])}"`).join(" ")}`,
    };
  }
  const probe = inDir(stateDir, `.doctor-${crypto.randomUUID()}`);
  try {
    await Deno.writeFile(probe, new Uint8Array(), { mode: 0o600 });
    await Deno.remove(probe);
  } catch (error) {
    return {
      check: CHECK,
      verdict: "fail",
      detail: `cannot write to ${stateDir}: ${reason(error)}`,
      fix: fixAccess(stateDir),
    };
  }
  const keys = present.length > 0 ? `; ${present.join(", ")} private` : "; no keys yet";
  return { check: CHECK, verdict: "ok", detail: `${stateDir} is private and writable${keys}` };
}

function fixAccess(stateDir: string): string {
  return `run hark as the user who owns "${stateDir}", or pick another state dir with --state-dir or HARK_STATE_DIR`;
}
