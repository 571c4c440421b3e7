/**
 * Whether the agent starts by itself: the login service `hark service
 * install` writes, its state, and whether it runs with this state dir.
 */

import { resolve } from "node:path";
import type { Finding } from "./finding.ts";
import { serviceState, startHint, UnsupportedServiceError } from "../service/mod.ts";
import type { ServiceState } from "../service/mod.ts";

const CHECK = "service";

export async function checkService(
  stateDir: string,
  read: () => Promise<ServiceState> = () => serviceState(),
  hint: () => string = () => startHint(),
): Promise<Finding> {
  let state: ServiceState;
  try {
    state = await read();
  } catch (error) {
    if (error instanceof UnsupportedServiceError) return { check: CHECK, verdict: "ok", detail: error.message };
    return { check: CHECK, verdict: "warn", detail: `cannot tell: ${(error as Error).message}` };
  }
  if (!state.installed) {
    return {
      check: CHECK,
      verdict: "warn",
      detail: `not installed (${state.path}): the agent runs only while you keep \`hark run\` going`,
      fix: "hark service install",
    };
  }
  const notes = state.notes.length > 0 ? `; ${state.notes.join("; ")}` : "";
  if (state.stateDir && resolve(state.stateDir) !== resolve(stateDir)) {
    return {
      check: CHECK,
      verdict: "warn",
      detail: `installed, but for state dir ${state.stateDir}, not ${stateDir}${notes}`,
      fix: `run \`hark --state-dir ${stateDir} service install\` if this state dir is the one to run`,
    };
  }
  if (state.running === false) {
    return {
      check: CHECK,
      verdict: "warn",
      detail: `installed (${state.path}) but not running${state.status ? ` (${state.status})` : ""}${notes}`,
      fix: `start it: ${hint()}; \`hark service status\` shows its last log lines`,
    };
  }
  const enabled = state.enabled === false ? ", but not enabled at login" : "";
  return {
    check: CHECK,
    verdict: state.enabled === false ? "warn" : "ok",
    detail: `installed (${state.path})${state.running ? ", running" : ""}${enabled}${notes}`,
    fix: state.enabled === false ? "hark service install" : undefined,
  };
}
