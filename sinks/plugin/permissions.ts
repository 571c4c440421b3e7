/**
 * A plugin's Worker gets only what its config grants (SPEC: nothing by
 * default), plus reading its own directory so that it can import its own
 * modules. Every kind is set explicitly: an omitted kind would inherit the
 * agent's, which is everything.
 */

import { dirname } from "node:path";

export interface PluginGrants {
  /** Hosts, `host:port` or IP addresses it may connect to. */
  net?: string[];
  /** Files and directories it may read, besides its own directory. */
  read?: string[];
  write?: string[];
  /** Programs it may run. */
  run?: string[];
  /** Environment variables it may read. */
  env?: string[];
}

export function workerPermissions(pluginPath: string, grants: PluginGrants): Deno.PermissionOptionsObject {
  const listOrNone = (list: string[] | undefined) => list?.length ? list : false;
  return {
    read: [dirname(pluginPath), ...(grants.read ?? [])],
    write: listOrNone(grants.write),
    net: listOrNone(grants.net),
    run: listOrNone(grants.run),
    env: listOrNone(grants.env),
    sys: false,
    ffi: false,
    import: false,
  };
}
