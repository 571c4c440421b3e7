/**
 * The state dir, made before the service starts: the systemd sandbox can
 * only open a directory that exists, and a service for another account must
 * not find root-owned directories in its home.
 */

import type { ServiceHost } from "./host.ts";
import type { ServicePlan } from "./manager.ts";
import { makeDirsFor } from "./files.ts";
import { prepareStateDir } from "../store/state_dir.ts";

/** Called by each manager once its tool has answered, so a missing tool leaves nothing behind. */
export async function prepareServiceStateDir(host: ServiceHost, plan: ServicePlan): Promise<void> {
  const account = plan.account;
  if (account !== undefined && account.uid !== host.uid) await makeDirsFor(host.os, plan.stateDir, account, 0o700);
  await prepareStateDir(plan.stateDir);
}
