/**
 * One home for the rule on control characters. Event text, error bodies
 * from servers and the output of programs come from elsewhere: before any of
 * it reaches a terminal or a log, escape sequences that could move the
 * cursor, retitle the terminal or fake other output are taken out.
 */

/**
 * C0 controls (newlines too: one line must stay one line), DEL, C1 controls,
 * and the Unicode line/paragraph separators and bidi overrides.
 */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Replaces every control character: with `replacement` when given, else
 * whitespace with a space and the rest with U+FFFD, so that something
 * visible marks where it was.
 */
export function stripControls(text: string, replacement?: string): string {
  if (replacement !== undefined) return text.replace(UNSAFE, replacement);
  return text.replace(UNSAFE, (char) => (char === "\n" || char === "\r" || char === "\t" ? " " : "\uFFFD"));
}

/**
 * Text on its way to a terminal that may hold several lines (a table, a
 * status page, a log record): each line cleaned by `stripControls`, the "\n"
 * between them kept. Every line hark's CLI and log print passes through here,
 * so a peer's host name, a topic description or an error from elsewhere cannot
 * clear the screen, set the window title or write the clipboard (OSC 52).
 */
export function cleanForTerminal(text: string): string {
  return text.split("\n").map((line) => stripControls(line)).join("\n");
}

/** What `JSON.stringify` leaves raw but `stripControls` takes out: DEL, C1 controls, separators, bidi overrides. */
const RAW_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `JSON.stringify` for output a terminal may show: the characters it leaves
 * raw (C1's CSI among them) become `\uXXXX` escapes. Outside strings JSON
 * holds none of them, so a parser reads the very same value.
 */
export function jsonForTerminal(value: unknown, space?: number): string {
  const json = JSON.stringify(value, null, space) ?? "null";
  return json.replace(RAW_IN_JSON, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/**
 * The same, but tab and line breaks, for text that keeps its lines; and the
 * noncharacters U+FFFE and U+FFFF, which no XML (a toast) may hold.
 */
// deno-lint-ignore no-control-regex
const UNSAFE_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufffe\uffff]/g;
const LINE_BREAKS = /\r\n?|[\u2028\u2029]/g;

/**
 * Text that keeps its lines (a chat message, a notification's body): every
 * line break becomes "\n", tabs stay, other control characters become U+FFFD.
 */
export function stripControlsKeepingLines(text: string): string {
  return text.replace(LINE_BREAKS, "\n").replace(UNSAFE_BUT_LINES, "\uFFFD");
}

/** Terminal sequences: CSI (colours, cursor moves), OSC (titles, links) and two-character escapes. */
// deno-lint-ignore no-control-regex
const TERMINAL_SEQUENCE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
/** Control characters but tab, for text that keeps its columns. */
// deno-lint-ignore no-control-regex
const CONTROLS_BUT_TAB = /[\x00-\x08\x0b-\x1f\x7f]/g;

/**
 * A line of a program's output or a log file as a user reads it: terminal
 * sequences dropped, other control characters but tab replaced by
 * `replacement` (users write patterns against the text they see).
 */
export function cleanTerminalLine(line: string, replacement: string): string {
  return line.replace(TERMINAL_SEQUENCE, "").replace(CONTROLS_BUT_TAB, replacement);
}

/** ASCII controls (C0 and DEL), which no header value, service argument or one-line field may hold. */
// deno-lint-ignore no-control-regex
const ASCII_CONTROL = /[\x00-\x1f\x7f]/;

/** Whether `text` holds an ASCII control character: for input refused rather than cleaned. */
export function hasAsciiControl(text: string): boolean {
  return ASCII_CONTROL.test(text);
}
