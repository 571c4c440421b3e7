/**
 * The systemd unit that runs the agent, and systemd's quoting rules for the
 * values in it (systemd.syntax(7) "Quoting", systemd.service(7) "Command
 * lines", systemd.unit(5) "Specifiers").
 */

import type { Scope, ServicePlan } from "./manager.ts";

export const UNIT_NAME = "hark.service";

/** Characters that need no quoting in an ExecStart= word once `%` and `$` are doubled. */
const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,.\/$-]+$/;

/** `%` starts a specifier (`%h`); systemd reads `%%` as one `%`. */
function escapeSpecifiers(text: string): string {
  return text.replaceAll("%", "%%");
}

/** Double quotes with C escapes for the characters systemd would otherwise read as syntax. */
function cQuote(text: string): string {
  // deno-lint-ignore no-control-regex -- control characters are exactly what must be escaped
  const escaped = text.replace(/[\\"\x00-\x1f\x7f]/g, (char) => {
    switch (char) {
      case "\\":
        return "\\\\";
      case '"':
        return '\\"';
      case "\n":
        return "\\n";
      case "\t":
        return "\\t";
      default:
        return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
    }
  });
  return `"${escaped}"`;
}

/**
 * One ExecStart= word. In arguments `$` is doubled, because systemd
 * substitutes `$NAME` from the environment at start; the program itself is
 * taken literally, so there it stays single. The rest is quoted when it holds
 * spaces or anything else systemd would split or unescape.
 */
export function quoteExecArgument(arg: string, program = false): string {
  const literal = program ? escapeSpecifiers(arg) : escapeSpecifiers(arg).replaceAll("$", () => "$$");
  return PLAIN_WORD.test(literal) ? literal : cQuote(literal);
}

/** An ExecStart= line's value for `argv`. */
export function execLine(argv: string[]): string {
  return argv.map((arg, index) => quoteExecArgument(arg, index === 0)).join(" ");
}

/**
 * One path in a path list such as ReadWritePaths=; `optional` adds systemd's
 * `-` prefix, which ignores a path that does not exist instead of failing
 * the start. Such lists unquote but expand no `$`.
 */
export function quoteUnitPath(path: string, optional = false): string {
  const literal = escapeSpecifiers(path);
  const word = PLAIN_WORD.test(literal) ? literal : cQuote(literal);
  return optional ? `-${word}` : word;
}

/** The argv of an ExecStart= value written by `execLine`: the reverse, for `hark service status`. */
export function parseExecLine(value: string): string[] {
  const words: string[] = [];
  const text = value.replaceAll("%%", "\u0000percent\u0000");
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    let word = "";
    let quote: string | undefined;
    for (; i < text.length; i++) {
      const char = text[i];
      if (quote === undefined && /\s/.test(char)) break;
      if (quote === undefined && (char === '"' || char === "'")) {
        quote = char;
      } else if (char === quote) {
        quote = undefined;
      } else if (char === "\\" && i + 1 < text.length) {
        const [unescaped, length] = unescape(text, i + 1);
        word += unescaped;
        i += length;
      } else {
        word += char;
      }
    }
    const unescaped = word.replaceAll("\u0000percent\u0000", "%");
    words.push(words.length === 0 ? unescaped : unescaped.replaceAll("$$", () => "$"));
  }
  return words;
}

/** The C escape starting at `text[at]` (after its backslash): its character and how many characters it took. */
function unescape(text: string, at: number): [string, number] {
  const char = text[at];
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", a: "\x07", b: "\b", f: "\f", v: "\v", s: " " };
  if (char in simple) return [simple[char], 1];
  if (char === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(at + 1, at + 3))) {
    return [String.fromCharCode(parseInt(text.slice(at + 1, at + 3), 16)), 3];
  }
  return [char, 1];
}

/** The argv of the first ExecStart= line in a unit's text, or undefined when it has none. */
export function execStartOf(unitText: string): string[] | undefined {
  const line = unitText.split("\n").find((candidate) => candidate.startsWith("ExecStart="));
  return line === undefined ? undefined : parseExecLine(line.slice("ExecStart=".length));
}

/** The unit file's text for `plan`, as a user unit (at login) or a system unit (at boot, as `plan.account`). */
export function systemdUnit(plan: ServicePlan, scope: Scope): string {
  const user = scope === "user";
  const readWrite = [
    quoteUnitPath(plan.stateDir),
    // Config paths may not exist yet; their sink or source reports that, the agent still starts.
    ...plan.sandbox.writable.map((dir) => quoteUnitPath(dir, true)),
  ].join(" ");
  const manage = user ? "systemctl --user" : "systemctl";
  const lines = [
    "# The hark agent. `hark service install` writes this file and rewrites it",
    "# on every run; `hark service uninstall` removes it. For changes that last,",
    `# add a drop-in: ${manage} edit ${UNIT_NAME}`,
    "[Unit]",
    "Description=hark event mesh agent",
    ...(user
      ? [
        "# Order after the session bus (when there is one): desktop notifications use it.",
        "After=dbus.socket",
      ]
      : [
        "# Peers are dialed at start; without a network they are only retried later.",
        "Wants=network-online.target",
        "After=network-online.target",
      ]),
    "",
    "[Service]",
    "# exec: a start fails at once, visibly, when the program cannot be run.",
    "Type=exec",
    `ExecStart=${execLine(plan.argv)}`,
    ...(user
      ? [
        "# The user manager does not always carry the session bus address; name the",
        "# standard socket so desktop notifications reach the session.",
        "Environment=DBUS_SESSION_BUS_ADDRESS=unix:path=%t/bus",
      ]
      : [`User=${plan.account?.name ?? "root"}`]),
    "Restart=on-failure",
    "RestartSec=5s",
    "# Exit status 2 is a config or usage error: restarting cannot fix it.",
    "RestartPreventExitStatus=2",
    "# The agent stops within 2 s of SIGTERM; this is only a backstop.",
    "TimeoutStopSec=15s",
    "UMask=0077",
    "",
    "# Sandbox. The file system is read-only except the state dir (which holds",
    "# the log) and the directories of file sinks and fifo sources; exec sinks'",
    "# programs run inside it too. ProtectHome= is left out: it would hide the",
    "# state dir and the config under the home directory, and /run/user, where",
    "# the session bus listens. MemoryDenyWriteExecute= is left out: V8 compiles",
    "# JavaScript to machine code at run time.",
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    `ReadWritePaths=${readWrite}`,
    ...(plan.sandbox.sharedTmp.length === 0 ? ["PrivateTmp=yes"] : [
      `# PrivateTmp= is off: the config uses ${plan.sandbox.sharedTmp.join(", ")}, which other`,
      "# programs must share with the agent.",
    ]),
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "ProtectHostname=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "# Netlink lists the network interfaces for mDNS and the listen addresses.",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
    "",
    "[Install]",
    `WantedBy=${user ? "default.target" : "multi-user.target"}`,
    "",
  ];
  return lines.join("\n");
}
