/**
 * The account a machine-wide service runs as: named with --user, or the
 * user who ran sudo, or the caller. Its home gives the default state dir,
 * since sudo hides the caller's own HOME.
 */

import type { ServiceHost } from "./host.ts";
import type { Account } from "./manager.ts";
import { HarkError } from "../errors.ts";

/** Looks `requested` (or the sudo caller, or this uid) up in the user database with `getent passwd`. */
export async function serviceAccount(host: ServiceHost, requested?: string): Promise<Account> {
  const key = requested ?? host.env("SUDO_USER") ?? (host.uid === null ? undefined : String(host.uid));
  if (key === undefined) throw new HarkError("cannot tell which account should run the service: name it with --user");
  const result = await host.run("getent", ["passwd", key]);
  const fields = result.stdout.trim().split("\n")[0]?.split(":") ?? [];
  if (result.code !== 0 || fields.length < 7) {
    throw new HarkError(`there is no account "${key}" on this machine: name an existing one with --user NAME`);
  }
  const [name, , uid, gid, , home] = fields;
  return { name, uid: Number(uid), gid: Number(gid), home };
}

/** Installing or removing a machine-wide service writes to /etc and talks to the system manager. */
export function requireRoot(host: ServiceHost, action: "install" | "uninstall"): void {
  if (host.uid !== 0) {
    throw new HarkError(`a machine-wide service needs root to ${action}: run \`sudo hark service ${action} --system\``);
  }
}
