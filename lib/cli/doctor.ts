/**
 * `hark doctor`: checks what this machine needs and explains each finding
 * with a fix. For now: the config, the desktop notification backend and
 * whether an agent answers; the service, ports, mDNS and clock checks of a
 * later version will join them here.
 */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { noArguments } from "./info.ts";
import { loadConfig } from "./load_config.ts";
import { requestAgent } from "../control_client.ts";
import { platformBackend } from "../../sinks/desktop/mod.ts";

export type Verdict = "ok" | "warn" | "fail";

export interface Finding {
  check: string;
  verdict: Verdict;
  detail: string;
  /** What to do about a warning or failure. */
  fix?: string;
}

export const doctorCommand: Command = {
  name: "doctor",
  usage: "hark doctor [--json]",
  help: [
    "Checks this machine and explains each finding, with a fix.",
    "",
    "Examples:",
    "  hark doctor           # one line per check",
    "  hark doctor --json    # the same as JSON, for scripts",
    "",
    "Exits 1 when a check fails, 0 otherwise (warnings included).",
  ].join("\n"),
  options: {},
  async run({ global, positionals }) {
    noArguments("doctor", positionals);
    const findings = [
      await checkConfig(global.config, global.stateDir),
      await checkDesktop(),
      await checkAgent(global.stateDir),
    ];
    if (global.json) {
      print(JSON.stringify(findings, null, 2));
    } else {
      for (const finding of findings) {
        print(`${finding.verdict.padEnd(4)}  ${finding.check}: ${finding.detail}`);
        if (finding.fix) print(`      fix: ${finding.fix}`);
      }
    }
    return findings.some((finding) => finding.verdict === "fail") ? 1 : 0;
  },
};

async function checkConfig(path: string | undefined, stateDir: string): Promise<Finding> {
  try {
    const config = await loadConfig({ path, stateDir, flags: {} });
    const sinks = config.sinks.map((sink) => sink.type).join(", ");
    return { check: "config", verdict: "ok", detail: `reads cleanly; sinks: ${sinks}` };
  } catch (error) {
    return {
      check: "config",
      verdict: "fail",
      detail: (error as Error).message,
      fix: "correct the key the message names; `hark run` refuses to start until then",
    };
  }
}

/** Which desktop backend the desktop sink would use here, and whether it can reach a notification service. */
export async function checkDesktop(): Promise<Finding> {
  const backend = platformBackend();
  try {
    await backend.start();
    const { ok, reason } = backend.available();
    if (ok) return { check: "desktop notifications", verdict: "ok", detail: `${backend.name}: ${reason}` };
    return {
      check: "desktop notifications",
      verdict: "warn",
      detail: `${backend.name}: ${reason}`,
      fix: desktopFix(),
    };
  } finally {
    await backend.close();
  }
}

function desktopFix(): string {
  switch (Deno.build.os) {
    case "darwin":
      return "run hark in your login session (hark service install); `brew install terminal-notifier` adds click-to-open";
    case "windows":
      return "run hark in your logon session (hark service install), with Windows PowerShell 5.1 available";
    default:
      return "run hark inside a desktop session (its DBUS_SESSION_BUS_ADDRESS) with a notification daemon (dunst, mako, GNOME, KDE); on a server, use a file, exec or webhook sink instead";
  }
}

async function checkAgent(stateDir: string): Promise<Finding> {
  try {
    const reply = await requestAgent(stateDir, { op: "peers" });
    const peers = (reply.peers as unknown[]).length;
    return {
      check: "agent",
      verdict: peers > 0 ? "ok" : "warn",
      detail: `running in ${stateDir}, ${peers} peer${peers === 1 ? "" : "s"} connected`,
      fix: peers > 0
        ? undefined
        : "add a peer with network.peers or join with `hark network join TOKEN` on this machine",
    };
  } catch (error) {
    return {
      check: "agent",
      verdict: "warn",
      detail: (error as Error).message,
      fix: "start it with `hark run` (or `hark service install`)",
    };
  }
}
