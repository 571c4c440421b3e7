/**
 * The Task Scheduler definition (schema 1.2) that runs the agent at logon,
 * and the Windows command-line quoting its Arguments element needs.
 */

import { elementTexts, escapeXml } from "./xml_text.ts";

export const TASK_NAME = "hark";

export interface TaskOptions {
  argv: string[];
  /** `DOMAIN\user`: whose logon starts the task, and whose session it runs in. */
  userId: string;
}

/**
 * One argument as the program's C runtime splits its command line back
 * (CommandLineToArgvW rules): quoted when it holds blanks or quotes;
 * backslashes are doubled only where they precede a quote.
 */
export function quoteWindowsArgument(arg: string): string {
  if (arg !== "" && !/[\s"]/.test(arg)) return arg;
  let quoted = '"';
  let backslashes = 0;
  for (const char of arg) {
    if (char === "\\") {
      backslashes++;
      continue;
    }
    quoted += char === '"' ? "\\".repeat(backslashes * 2 + 1) + '"' : "\\".repeat(backslashes) + char;
    backslashes = 0;
  }
  return quoted + "\\".repeat(backslashes * 2) + '"';
}

/** The arguments of a Windows command line (after the program), split as the C runtime does. */
export function parseWindowsArguments(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (true) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (i >= line.length) return args;
    let arg = "";
    let quoted = false;
    while (i < line.length && (quoted || (line[i] !== " " && line[i] !== "\t"))) {
      if (line[i] === "\\") {
        let count = 0;
        while (line[i] === "\\") {
          count++;
          i++;
        }
        if (line[i] === '"') {
          arg += "\\".repeat(Math.floor(count / 2));
          if (count % 2 === 1) {
            arg += '"';
            i++;
          }
        } else {
          arg += "\\".repeat(count);
        }
      } else if (line[i] === '"') {
        // Inside quotes, "" is a literal quote (the C runtime's rule since 2008).
        if (quoted && line[i + 1] === '"') {
          arg += '"';
          i += 2;
        } else {
          quoted = !quoted;
          i++;
        }
      } else {
        arg += line[i++];
      }
    }
    args.push(arg);
  }
}

/** The task's XML text. `taskXmlBytes` encodes it the way schtasks reads it. */
export function windowsTaskXml(options: TaskOptions): string {
  const [command, ...args] = options.argv;
  const user = escapeXml(options.userId);
  return [
    `<?xml version="1.0" encoding="UTF-16"?>`,
    `<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">`,
    `  <RegistrationInfo>`,
    `    <Description>The hark agent. \`hark service install\` creates this task and replaces it on every run; \`hark service uninstall\` deletes it.</Description>`,
    `    <URI>\\${TASK_NAME}</URI>`,
    `  </RegistrationInfo>`,
    `  <Triggers>`,
    `    <LogonTrigger>`,
    `      <Enabled>true</Enabled>`,
    `      <UserId>${user}</UserId>`,
    `    </LogonTrigger>`,
    `  </Triggers>`,
    `  <Principals>`,
    // The interactive token runs the agent in the user's session, where its
    // notifications can show; no password is stored, no elevation asked.
    `    <Principal id="Author">`,
    `      <UserId>${user}</UserId>`,
    `      <LogonType>InteractiveToken</LogonType>`,
    `      <RunLevel>LeastPrivilege</RunLevel>`,
    `    </Principal>`,
    `  </Principals>`,
    `  <Settings>`,
    `    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>`,
    // Task Scheduler's defaults would keep a laptop on battery from starting
    // the agent, stop it when unplugged, and end it after three days.
    `    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>`,
    `    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>`,
    `    <ExecutionTimeLimit>PT0S</ExecutionTimeLimit>`,
    `    <RestartOnFailure>`,
    `      <Interval>PT1M</Interval>`,
    `      <Count>999</Count>`,
    `    </RestartOnFailure>`,
    `    <AllowStartOnDemand>true</AllowStartOnDemand>`,
    `    <Enabled>true</Enabled>`,
    `  </Settings>`,
    `  <Actions Context="Author">`,
    `    <Exec>`,
    `      <Command>${escapeXml(command)}</Command>`,
    `      <Arguments>${escapeXml(args.map(quoteWindowsArgument).join(" "))}</Arguments>`,
    `    </Exec>`,
    `  </Actions>`,
    `</Task>`,
    ``,
  ].join("\n");
}

/** UTF-16 little-endian with a byte-order mark: what `schtasks /Create /XML` reads, as its own exports are. */
export function taskXmlBytes(xml: string): Uint8Array {
  const bytes = new Uint8Array(2 + xml.length * 2);
  bytes[0] = 0xff;
  bytes[1] = 0xfe;
  for (let i = 0; i < xml.length; i++) {
    const unit = xml.charCodeAt(i);
    bytes[2 + i * 2] = unit & 0xff;
    bytes[3 + i * 2] = unit >> 8;
  }
  return bytes;
}

/** The argv of a task definition's first Exec action, or undefined when it has none. */
export function taskCommand(xml: string): string[] | undefined {
  const [command] = elementTexts(xml, "Command");
  if (command === undefined) return undefined;
  const [args = ""] = elementTexts(xml, "Arguments");
  return [command, ...parseWindowsArguments(args)];
}

/** Whether the definition's Settings say the task is enabled; true when it does not say. */
export function taskEnabled(xml: string): boolean {
  const settings = elementTexts(xml, "Settings")[0] ?? "";
  // Triggers have their own <Enabled>; only the one directly in Settings counts.
  const withoutNested = settings.replace(/<(IdleSettings|NetworkSettings|RestartOnFailure)>[\s\S]*?<\/\1>/g, "");
  const enabled = /<Enabled>\s*(true|false)\s*<\/Enabled>/.exec(withoutNested);
  return enabled === null || enabled[1] === "true";
}
