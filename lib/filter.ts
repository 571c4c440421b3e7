/**
 * Sink filters (`when = 'priority >= 4 and tags contains "deploy"'`) and
 * topic globs (`builds.*`), issue #6.
 *
 * Why a small parser of our own instead of a library:
 * - filtrex 3.1.0, the obvious candidate, turns every expression into
 *   JavaScript source and runs it with `new Function` (src/filtrex.mjs:414),
 *   and its parse errors carry a caret string but no offset. Text from a
 *   config file must never become code, so it is out.
 * - jsep 1.x is safe (it only builds an AST) and reports parse offsets, but
 *   its AST nodes have no positions, so `unknown field "prio"` could not point
 *   at `prio`; it parses all of JavaScript's expression grammar (calls, `?:`,
 *   `this`, `||`, `+`), each of which we would have to find and reject; and
 *   its operator table is global state shared by every importer.
 * - CEL implementations are safe but speak another language (`&&`, `in`,
 *   `.matches()` with regular expressions), not the syntax issue #6 asks for.
 * The grammar below is six rules. Parsing it by hand gives an exact position
 * for every error, hard limits on length and nesting, and no dependency.
 * Nothing here evaluates text as code: an expression compiles to a tree of
 * closures over fixed operations.
 *
 * Grammar, lowest precedence first:
 *   expression := or
 *   or         := and ("or" and)*
 *   and        := not ("and" not)*
 *   not        := "not" not | comparison
 *   comparison := operand [operator operand]      (no chains: a < b < c is an error)
 *   operator   := "==" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "matches"
 *   operand    := string | number | "true" | "false" | field | "(" expression ")"
 *
 * Semantics, chosen so a filter can never throw at run time:
 * - A comparison is true only when both sides are present and of the same
 *   kind (two strings, two numbers, two booleans); there is no coercion, so
 *   `priority == "4"` is false. A missing field makes every comparison false,
 *   `!=` included; `not (data.env == "prod")` is true when data.env is absent.
 * - `<`, `<=`, `>`, `>=` order numbers, or strings by UTF-16 code unit (which
 *   orders RFC 3339 times correctly).
 * - `contains`: membership for a list (`tags contains "deploy"`), substring
 *   for a string (`title contains "failed"`).
 * - `matches`: shell glob over the whole string, case-sensitive; `*` is any
 *   run of characters, `?` exactly one. The pattern must be a quoted string.
 *   On a list it is true when any element matches.
 * - A bare field is a truth test: `click` is true when the event has one,
 *   `data.ok` when it is true, a non-zero number, or a non-empty string, list
 *   or object.
 */

import { ConfigError } from "./errors.ts";
import type { HarkEvent } from "./event/event.ts";

/** Longer expressions are rejected; no real filter needs more. */
export const FILTER_MAX_CHARS = 1024;
/** Deepest nesting of parentheses and `not`; bounds recursion in parser and filter. */
export const FILTER_MAX_DEPTH = 32;
/** Topics are at most 64 characters, so a longer pattern is a mistake. */
export const TOPIC_PATTERN_MAX_CHARS = 64;

const TOPIC_PATTERN_CHARS = /^[A-Za-z0-9._*?-]$/;
const EVENT_FIELDS = new Set(["id", "topic", "title", "body", "priority", "tags", "time", "click", "expires", "data"]);
const SOURCE_FIELDS = new Set(["host", "peer", "user"]);
const KNOWN_FIELDS =
  "id, topic, title, body, priority, tags, time, click, expires, source.host, source.peer, source.user, data.*";
const KEYWORDS = new Set(["and", "or", "not", "contains", "matches", "true", "false"]);
const COMPARISON_OPERATORS = new Set(["==", "!=", "<", "<=", ">", ">=", "contains", "matches"]);
const EXCERPT_WIDTH = 72;

/**
 * A filter expression or topic pattern that cannot be compiled. A bad `when`
 * in a config file is a config error, so this is a `ConfigError` (exit code 2).
 *
 * `message` is the reason with its place, then the offending line of the
 * expression with carets under the bad part:
 *
 * ```
 * unknown field "prio" (fields are id, topic, ...) at 1:1
 *   prio >= 4
 *   ^^^^
 * ```
 *
 * The first line stands on its own for one-line error reports.
 */
export class FilterError extends ConfigError {
  override name = "FilterError";
  /** The expression or pattern as written. */
  readonly expression: string;
  /** 0-based offset of the bad part in `expression`. */
  readonly position: number;
  /** 1-based line and column (in UTF-16 code units) of `position`. */
  readonly line: number;
  readonly column: number;
  /** What is wrong, without the place. */
  readonly reason: string;
  /** The line of the expression that holds the error, and a caret line under it. */
  readonly excerpt: string;

  constructor(reason: string, expression: string, position: number, length = 1) {
    const { line, column } = lineAndColumn(expression, position);
    const excerpt = markExcerpt(expression, position, length);
    super(`${reason} at ${line}:${column}\n${excerpt}`);
    this.expression = expression;
    this.position = position;
    this.line = line;
    this.column = column;
    this.reason = reason;
    this.excerpt = excerpt;
  }
}

/**
 * Compiles a `when` expression into a test over events. Throws `FilterError`
 * for any syntax error, unknown field or limit breach; the returned test never
 * throws, whatever it is given (a broken event simply does not match).
 */
export function compileFilter(expression: string): (event: HarkEvent) => boolean {
  if (expression.length > FILTER_MAX_CHARS) {
    throw new FilterError(
      `expression is ${expression.length} characters; the limit is ${FILTER_MAX_CHARS}`,
      expression,
      FILTER_MAX_CHARS,
    );
  }
  const parser = new Parser(expression, tokenize(expression));
  const evaluate = parser.parse();
  return (event) => {
    // Events come from other peers; a filter that threw would stall the
    // router, so anything unexpected (a throwing getter, a Proxy) is a miss.
    try {
      return isTruthy(evaluate(event));
    } catch {
      return false;
    }
  };
}

/**
 * Compiles a topic pattern: `*` is any run of characters (dots included, so
 * `builds.*` matches `builds.linux.arm` but not `builds`), `?` exactly one;
 * a pattern without either matches only the topic it names.
 */
export function compileTopicPattern(pattern: string): (topic: string) => boolean {
  if (pattern.length === 0) throw new FilterError("topic pattern is empty", pattern, 0);
  if (pattern.length > TOPIC_PATTERN_MAX_CHARS) {
    throw new FilterError(
      `topic pattern is ${pattern.length} characters; the limit is ${TOPIC_PATTERN_MAX_CHARS}`,
      pattern,
      TOPIC_PATTERN_MAX_CHARS,
    );
  }
  for (let i = 0; i < pattern.length; i++) {
    if (!TOPIC_PATTERN_CHARS.test(pattern[i])) {
      throw new FilterError(
        `invalid character ${
          JSON.stringify(pattern[i])
        } in topic pattern; use A-Z, a-z, 0-9, ".", "_", "-", "*" and "?"`,
        pattern,
        i,
      );
    }
  }
  if (!/[*?]/.test(pattern)) return (topic) => topic === pattern;
  return (topic) => typeof topic === "string" && globMatches(pattern, topic);
}

/**
 * Whole-string glob match without regular expressions: one pass with a single
 * backtrack point, so at worst pattern length times text length steps, never
 * the exponential blow-up a `.*`-laden RegExp can hit on hostile event text.
 */
export function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let starAt = -1;
  let starText = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] === "*") {
      starAt = p++;
      starText = t;
    } else if (p < pattern.length && (pattern[p] === "?" || pattern[p] === text[t])) {
      p++;
      t++;
    } else if (starAt >= 0) {
      p = starAt + 1;
      t = ++starText;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === "*") p++;
  return p === pattern.length;
}

// --- tokens ---------------------------------------------------------------

type TokenType = "string" | "number" | "word" | "operator" | "(" | ")" | "end";

interface Token {
  type: TokenType;
  /** The source text of the token. */
  text: string;
  /** The decoded value of a string or number literal. */
  value?: string | number;
  start: number;
  end: number;
}

const NUMBER_LEXEME = /-?[0-9][A-Za-z0-9_.]*/y;
const VALID_NUMBER = /^-?[0-9]+(\.[0-9]+)?$/;
const WORD = /[A-Za-z_][A-Za-z0-9_.-]*/y;
const OPERATOR = /==|!=|<=|>=|<|>/y;
/** Operators from other languages, and what to write instead. */
const FOREIGN_OPERATORS: [RegExp, string][] = [
  [/&&/y, 'use "and" instead of "&&"'],
  [/\|\|/y, 'use "or" instead of "||"'],
  [/!/y, 'use "not" instead of "!"'],
  [/=/y, 'use "==" to compare'],
];
const ESCAPES = new Map([["\\", "\\"], ['"', '"'], ["'", "'"], ["n", "\n"], ["t", "\t"]]);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const lexeme = (pattern: RegExp): string | undefined => {
    pattern.lastIndex = at;
    return pattern.exec(source)?.[0];
  };
  while (true) {
    while (at < source.length && /\s/.test(source[at])) at++;
    if (at >= source.length) break;
    const char = source[at];
    const start = at;
    if (char === "(" || char === ")") {
      tokens.push({ type: char, text: char, start, end: ++at });
    } else if (char === '"' || char === "'") {
      tokens.push(readString(source, start));
      at = tokens[tokens.length - 1].end;
    } else if (lexeme(NUMBER_LEXEME) !== undefined) {
      const text = lexeme(NUMBER_LEXEME)!;
      if (!VALID_NUMBER.test(text)) {
        throw new FilterError(`invalid number ${JSON.stringify(text)}`, source, start, text.length);
      }
      at += text.length;
      tokens.push({ type: "number", text, value: Number(text), start, end: at });
    } else if (lexeme(WORD) !== undefined) {
      const text = lexeme(WORD)!;
      at += text.length;
      tokens.push({ type: "word", text, start, end: at });
    } else if (lexeme(OPERATOR) !== undefined) {
      const text = lexeme(OPERATOR)!;
      at += text.length;
      tokens.push({ type: "operator", text, start, end: at });
    } else {
      for (const [pattern, hint] of FOREIGN_OPERATORS) {
        const text = lexeme(pattern);
        if (text !== undefined) throw new FilterError(hint, source, start, text.length);
      }
      throw new FilterError(`unexpected character ${JSON.stringify(char)}`, source, start);
    }
  }
  tokens.push({ type: "end", text: "", start: source.length, end: source.length });
  return tokens;
}

function readString(source: string, start: number): Token {
  const quote = source[start];
  let value = "";
  let at = start + 1;
  while (source[at] !== quote) {
    // A trailing backslash leaves the string open too: it has nothing to escape.
    if (at >= source.length || (source[at] === "\\" && at + 1 >= source.length)) {
      throw new FilterError("string is not closed", source, start);
    }
    if (source[at] === "\\") {
      const escaped = ESCAPES.get(source[at + 1]);
      if (escaped === undefined) {
        throw new FilterError(
          `unknown escape "${source.slice(at, at + 2)}" in string; use \\\\, \\", \\', \\n or \\t`,
          source,
          at,
          2,
        );
      }
      value += escaped;
      at += 2;
    } else {
      value += source[at++];
    }
  }
  return { type: "string", text: source.slice(start, at + 1), value, start, end: at + 1 };
}

// --- parser ---------------------------------------------------------------

type Evaluate = (event: unknown) => unknown;
type Literal = string | number | boolean;

/** A parsed piece of expression: how to evaluate it and where it was written. */
interface Term {
  kind: "literal" | "field" | "condition";
  evaluate: Evaluate;
  /** Set when kind is "literal". */
  literal?: Literal;
  start: number;
  end: number;
}

class Parser {
  readonly #source: string;
  readonly #tokens: Token[];
  #at = 0;
  #depth = 0;

  constructor(source: string, tokens: Token[]) {
    this.#source = source;
    this.#tokens = tokens;
  }

  parse(): Evaluate {
    const term = this.#condition(this.#or());
    const next = this.#peek();
    if (next.type !== "end") {
      const hint = COMPARISON_OPERATORS.has(next.text)
        ? 'comparisons cannot be chained; join them with "and"'
        : `expected "and", "or" or the end of the expression, found ${describe(next)}`;
      this.#fail(hint, next);
    }
    return term.evaluate;
  }

  #or(): Term {
    return this.#junction("or", () => this.#and());
  }

  #and(): Term {
    return this.#junction("and", () => this.#not());
  }

  /** `a or b or c` is one n-ary node, so long chains do not deepen recursion. */
  #junction(keyword: "and" | "or", next: () => Term): Term {
    const first = next();
    if (!this.#isWord(keyword)) return first;
    const terms = [this.#condition(first)];
    while (this.#isWord(keyword)) {
      this.#at++;
      terms.push(this.#condition(next()));
    }
    const parts = terms.map((term) => term.evaluate);
    const evaluate: Evaluate = keyword === "and"
      ? (event) => parts.every((part) => isTruthy(part(event)))
      : (event) => parts.some((part) => isTruthy(part(event)));
    return { kind: "condition", evaluate, start: first.start, end: terms[terms.length - 1].end };
  }

  #not(): Term {
    if (!this.#isWord("not")) return this.#comparison();
    const keyword = this.#tokens[this.#at++];
    this.#enter(keyword);
    const operand = this.#condition(this.#not());
    this.#depth--;
    const inner = operand.evaluate;
    return { kind: "condition", evaluate: (event) => !isTruthy(inner(event)), start: keyword.start, end: operand.end };
  }

  #comparison(): Term {
    const left = this.#operand();
    const operator = this.#peek();
    if (!COMPARISON_OPERATORS.has(operator.text)) return left;
    this.#at++;
    const right = this.#operand();
    const [getLeft, getRight] = [left.evaluate, right.evaluate];
    let evaluate: Evaluate;
    if (operator.text === "matches") {
      if (right.kind !== "literal" || typeof right.literal !== "string") {
        this.#fail('"matches" needs a quoted glob pattern on its right, such as "ci-*"', right);
      }
      const pattern = right.literal as string;
      evaluate = (event) => anyMatches(getLeft(event), pattern);
    } else if (operator.text === "contains") {
      evaluate = (event) => contains(getLeft(event), getRight(event));
    } else {
      const compare = COMPARE[operator.text];
      evaluate = (event) => compare(getLeft(event), getRight(event));
    }
    return { kind: "condition", evaluate, start: left.start, end: right.end };
  }

  #operand(): Term {
    const token = this.#tokens[this.#at];
    if (token.type === "(") {
      this.#at++;
      this.#enter(token);
      const inner = this.#or();
      const close = this.#peek();
      if (close.type !== ")") {
        this.#fail(
          `expected ")" to close the "(" at ${place(this.#source, token.start)}, found ${describe(close)}`,
          close,
        );
      }
      this.#at++;
      this.#depth--;
      return { ...inner, start: token.start, end: close.end };
    }
    if (token.type === "string" || token.type === "number") {
      this.#at++;
      return literal(token.value!, token);
    }
    if (token.type === "word" && !KEYWORDS.has(token.text)) {
      this.#at++;
      return { kind: "field", evaluate: this.#field(token), start: token.start, end: token.end };
    }
    if (token.text === "true" || token.text === "false") {
      this.#at++;
      return literal(token.text === "true", token);
    }
    return this.#fail(`expected a field or a value, found ${describe(token)}`, token);
  }

  /** Resolves a field name now, so a typo is a config error and not a silent miss. */
  #field(token: Token): Evaluate {
    const path = token.text.split(".");
    if (path.some((part) => part === "")) this.#fail(`invalid field name ${JSON.stringify(token.text)}`, token);
    const [head, ...rest] = path;
    const known = head === "data" ||
      (head === "source" && rest.length === 1 && SOURCE_FIELDS.has(rest[0])) ||
      (EVENT_FIELDS.has(head) && rest.length === 0);
    if (!known) {
      const hint = KEYWORDS.has(token.text.toLowerCase())
        ? `write "${token.text.toLowerCase()}" in lower case`
        : `unknown field ${JSON.stringify(token.text)} (fields are ${KNOWN_FIELDS})`;
      this.#fail(hint, token);
    }
    // A host name that is not its signer's (`source.host_verified: false`) is no host to a filter.
    if (token.text === "source.host") {
      return (event) => {
        const source = child(event, "source");
        return child(source, "host_verified") === false ? undefined : child(source, "host");
      };
    }
    return (event) => {
      let value: unknown = event;
      for (const key of path) value = child(value, key);
      return value;
    };
  }

  /** Bare strings and numbers are not conditions: `priority >= 4 and 5` is a mistake. */
  #condition(term: Term): Term {
    if (term.kind === "literal" && typeof term.literal !== "boolean") {
      this.#fail(
        `expected a condition, found the ${typeof term.literal} ${this.#source.slice(term.start, term.end)}`,
        term,
      );
    }
    return term;
  }

  #enter(token: Token): void {
    if (++this.#depth > FILTER_MAX_DEPTH) {
      this.#fail(`expression is nested more than ${FILTER_MAX_DEPTH} levels deep`, token);
    }
  }

  #peek(): Token {
    return this.#tokens[this.#at];
  }

  #isWord(keyword: string): boolean {
    const token = this.#peek();
    return token.type === "word" && token.text === keyword;
  }

  #fail(reason: string, span: { start: number; end: number }): never {
    throw new FilterError(reason, this.#source, span.start, span.end - span.start);
  }
}

function literal(value: Literal, token: Token): Term {
  return { kind: "literal", evaluate: () => value, literal: value, start: token.start, end: token.end };
}

function describe(token: Token): string {
  if (token.type === "end") return "the end of the expression";
  const text = token.text.length > 24 ? `${token.text.slice(0, 24)}…` : token.text;
  return token.type === "string" ? text : `"${text}"`;
}

// --- evaluation -----------------------------------------------------------

/** Own properties only: `data.constructor` must not reach Object's prototype. */
function child(value: unknown, key: string): unknown {
  if (Array.isArray(value)) return /^[0-9]+$/.test(key) ? value[Number(key)] : undefined;
  if (typeof value === "object" && value !== null && Object.hasOwn(value, key)) {
    return (value as Record<string, unknown>)[key];
  }
  return undefined;
}

function isTruthy(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0 && !Number.isNaN(value);
  if (typeof value === "string" || Array.isArray(value)) return value.length > 0;
  return typeof value === "object" && value !== null;
}

function isScalar(value: unknown): value is Literal {
  return typeof value === "string" || typeof value === "boolean" || (typeof value === "number" && !Number.isNaN(value));
}

function sameKind(a: unknown, b: unknown): boolean {
  return isScalar(a) && isScalar(b) && typeof a === typeof b;
}

function ordered(a: unknown, b: unknown): boolean {
  return sameKind(a, b) && typeof a !== "boolean";
}

const COMPARE: Record<string, (a: unknown, b: unknown) => boolean> = {
  "==": (a, b) => sameKind(a, b) && a === b,
  "!=": (a, b) => sameKind(a, b) && a !== b,
  "<": (a, b) => ordered(a, b) && (a as number) < (b as number),
  "<=": (a, b) => ordered(a, b) && (a as number) <= (b as number),
  ">": (a, b) => ordered(a, b) && (a as number) > (b as number),
  ">=": (a, b) => ordered(a, b) && (a as number) >= (b as number),
};

function contains(haystack: unknown, needle: unknown): boolean {
  if (Array.isArray(haystack)) return isScalar(needle) && haystack.includes(needle);
  return typeof haystack === "string" && typeof needle === "string" && haystack.includes(needle);
}

function anyMatches(value: unknown, pattern: string): boolean {
  if (typeof value === "string") return globMatches(pattern, value);
  return Array.isArray(value) && value.some((item) => typeof item === "string" && globMatches(pattern, item));
}

// --- error excerpts -------------------------------------------------------

function lineAndColumn(source: string, position: number): { line: number; column: number } {
  const before = source.slice(0, position);
  const line = before.split("\n").length;
  return { line, column: position - (before.lastIndexOf("\n") + 1) + 1 };
}

function place(source: string, position: number): string {
  const { line, column } = lineAndColumn(source, position);
  return `${line}:${column}`;
}

/** The erring line, cut to a window around the error, with carets under the bad part. */
function markExcerpt(source: string, position: number, length: number): string {
  const lineStart = source.lastIndexOf("\n", position - 1) + 1;
  const newline = source.indexOf("\n", position);
  // Tabs and carriage returns would shift the carets out of line.
  const text = source.slice(lineStart, newline < 0 ? source.length : newline).replace(/[\t\r]/g, " ");
  const column = position - lineStart;
  const begin = text.length <= EXCERPT_WIDTH
    ? 0
    : Math.max(0, Math.min(column - EXCERPT_WIDTH / 2, text.length - EXCERPT_WIDTH));
  const shown = text.slice(begin, begin + EXCERPT_WIDTH);
  const lead = begin > 0 ? "…" : "";
  const tail = begin + EXCERPT_WIDTH < text.length ? "…" : "";
  const carets = Math.max(1, Math.min(length, shown.length - (column - begin)));
  return `  ${lead}${shown}${tail}\n  ${" ".repeat(lead.length + column - begin)}${"^".repeat(carets)}`;
}
