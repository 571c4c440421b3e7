/**
 * `hark doctor`: checks what this machine needs and explains each finding
 * with a fix. It only looks: nothing is created, changed or started.
 */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { noArguments } from "./info.ts";
import type { Finding } from "../doctor/finding.ts";
import { checkConfig } from "../doctor/config.ts";
import { checkStateDir } from "../doctor/state_dir.ts";
import { checkListen } from "../doctor/port.ts";
import { checkMdns } from "../doctor/mdns.ts";
import { checkDesktop } from "../doctor/desktop.ts";
import { checkService } from "../doctor/service.ts";
import { checkAgent, checkClock, checkPeers } from "../doctor/agent.ts";
import { loadNetwork } from "../mesh/network.ts";
import { jsonForTerminal } from "../util/controls.ts";
import { serviceUnsupported } from "../service/mod.ts";

export type { Finding, Verdict } from "../doctor/finding.ts";

export const doctorCommand: Command = {
  name: "doctor",
  usage: "hark doctor [--json]",
  help: `Checks this machine and explains each finding, with a fix: the config, the
state dir and key permissions, the listen port, mDNS, desktop notifications,
the login service (hark service install), the agent, its configured peers, and
clock skew against peers. It changes nothing.

Each line is "ok", "warn" or "fail", the check, what was found, and for
warnings and failures a "fix:" line.

--json prints an array of {"check", "verdict", "detail", "fix"?} objects, one
per check, in the order above; "verdict" is "ok", "warn" or "fail".

Examples:
  hark doctor                              # one line per check
  hark doctor --json | jq '.[] | select(.verdict != "ok")'
  hark doctor --state-dir /srv/hark        # an agent with another state dir

Exits 1 when a check fails, 0 otherwise (warnings included).`,
  options: {},
  async run({ global, positionals }) {
    noArguments("doctor", positionals);
    const findings = await diagnose(global.config, global.stateDir);
    if (global.json) {
      print(jsonForTerminal(findings, 2));
    } else {
      for (const finding of findings) {
        print(`${finding.verdict.padEnd(4)}  ${finding.check}: ${finding.detail}`);
        if (finding.fix) print(`      fix: ${finding.fix}`);
      }
    }
    return findings.some((finding) => finding.verdict === "fail") ? 1 : 0;
  },
};

/** Every check, in the order they are printed. */
export async function diagnose(configPath: string | undefined, stateDir: string): Promise<Finding[]> {
  const { finding: configFinding, config } = await checkConfig(configPath, stateDir);
  const noService = serviceUnsupported();
  const agent = await checkAgent(
    stateDir,
    noService ? "start it with `hark run`, under the supervisor this system has (see the service check)" : undefined,
  );
  const running = agent.peers !== undefined;
  const network = await loadNetwork(stateDir).catch(() => undefined);
  const configured = [...new Set([...(config?.network.peers ?? []), ...(network?.peers ?? [])])];
  return [
    configFinding,
    await checkStateDir(stateDir),
    ...(config ? checkListen(config.network.listen, running) : []),
    ...(config ? [await checkMdns(config.network.mdns)] : []),
    await checkDesktop(),
    await checkService(stateDir),
    agent.finding,
    await checkPeers(configured, agent.peers, agent.keyMismatches),
    await checkClock(stateDir, running),
  ];
}
