/** The launchd property list that runs the agent at login (launchd.plist(5)). */

import { elementTexts, escapeXml } from "./xml_text.ts";

/** The launchd label; also the plist's file name. Reverse DNS, as launchd expects. */
export const LAUNCHD_LABEL = "org.hark.agent";

export interface PlistOptions {
  argv: string[];
  /** Where launchd sends the agent's stdout and stderr (events of the stdout sink; start-up errors). */
  stdoutPath: string;
  stderrPath: string;
}

/** Seconds between restarts, so an agent that keeps failing does not spin. */
const THROTTLE_SECONDS = 10;

/** The plist's text. Each argument is its own `<string>`: launchd runs the argv with no shell. */
export function launchdPlist(options: PlistOptions): string {
  const string = (text: string) => `<string>${escapeXml(text)}</string>`;
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`,
    `<!-- The hark agent. \`hark service install\` writes this file and rewrites it on every run;`,
    `     \`hark service uninstall\` removes it. -->`,
    `<plist version="1.0">`,
    `<dict>`,
    `  <key>Label</key>`,
    `  ${string(LAUNCHD_LABEL)}`,
    `  <key>ProgramArguments</key>`,
    `  <array>`,
    ...options.argv.map((arg) => `    ${string(arg)}`),
    `  </array>`,
    `  <key>RunAtLoad</key>`,
    `  <true/>`,
    // Restart after a crash or failure, like systemd's Restart=on-failure; an
    // exit with status 0 means it was asked to stop (SIGTERM) and stays stopped.
    `  <key>KeepAlive</key>`,
    `  <dict>`,
    `    <key>SuccessfulExit</key>`,
    `    <false/>`,
    `  </dict>`,
    `  <key>ThrottleInterval</key>`,
    `  <integer>${THROTTLE_SECONDS}</integer>`,
    `  <key>StandardOutPath</key>`,
    `  ${string(options.stdoutPath)}`,
    `  <key>StandardErrorPath</key>`,
    `  ${string(options.stderrPath)}`,
    `</dict>`,
    `</plist>`,
    ``,
  ].join("\n");
}

/** ProgramArguments of a plist written by `launchdPlist`, or undefined when it has none. */
export function plistArguments(plist: string): string[] | undefined {
  const array = /<key>ProgramArguments<\/key>\s*<array>([\s\S]*?)<\/array>/.exec(plist);
  return array ? elementTexts(array[1], "string") : undefined;
}
