/**
 * The README and docs/ stay true to this hark: every path they name exists,
 * every `hark` command line they show parses with the real command table,
 * every link between pages resolves, every config key they list is read by
 * the config schema, and the command and key references leave nothing out.
 * (tests/readme_test.ts runs their examples.)
 */

import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { COMMANDS, GLOBAL_OPTIONS } from "../lib/cli/commands.ts";
import type { OptionSpecs } from "../lib/cli/args.ts";
import {
  AGENT_FIELDS,
  MEMBERSHIP_FIELDS,
  NETWORK_FIELDS,
  parseConfig,
  STORE_FIELDS,
  TOPIC_FIELDS,
} from "../lib/config/config.ts";
import { ESCALATE_FIELDS } from "../lib/config/escalate.ts";
import { SINK_COMMON_FIELDS, SINK_SCHEMAS } from "../sinks/config_registry.ts";
import { SOURCE_COMMON_FIELDS, SOURCE_SCHEMAS } from "../lib/sources/config_registry.ts";
import {
  anchors,
  codeSpans,
  commandLines,
  links,
  type Page,
  readPage,
  readPages,
  ROOT,
  section,
  tableRows,
} from "./helpers/docs.ts";

const pages = await readPages();

/** Each command's options, as `hark COMMAND --help` takes them. */
const options = new Map<string, OptionSpecs>();
for (const entry of COMMANDS) options.set(entry.name, (await entry.load()).options);

function exists(path: string): Promise<boolean> {
  return Deno.stat(new URL(path, ROOT)).then(() => true, () => false);
}

/** A glob's directory has at least one entry its last part matches (`lib/sources/*_config.ts`). */
async function globMatches(path: string): Promise<boolean> {
  const dir = dirname(path);
  const pattern = new RegExp(`^${path.slice(dir.length + 1).replaceAll(".", "\\.").replaceAll("*", "[\\w-]+")}$`);
  if (!await exists(dir)) return false;
  for await (const entry of Deno.readDir(new URL(`${dir}/`, ROOT))) if (pattern.test(entry.name)) return true;
  return false;
}

Deno.test("the user-facing pages point at nothing users do not have", () => {
  for (const page of pages) {
    assert.doesNotMatch(page.text, /shared\/|SPEC\.md|\bSPEC's\b/, `${page.path} names the internal contract`);
  }
});

Deno.test("every repository path the README and docs/ name exists", async () => {
  const repoPath = /(?:^|[\s=(])((?:lib|sinks|tests|docs|\.ci|\.github)\/[\w.*/-]*|main\.ts|install\.sh|deno\.json)/g;
  const missing: string[] = [];
  let named = 0;
  for (const page of pages) {
    for (const span of codeSpans(page)) {
      for (const [, raw] of span.matchAll(repoPath)) {
        const path = raw.replace(/[/.]+$/, "");
        named++;
        const ok = path.includes("*") ? await globMatches(path) : await exists(path);
        if (!ok) missing.push(`${page.path}: ${raw}`);
      }
    }
  }
  assert.ok(named > 20, `only ${named} paths found: the reader is broken`);
  assert.deepEqual(missing, []);
});

Deno.test("every relative link between the pages resolves, anchors included", async () => {
  const broken: string[] = [];
  for (const page of pages) {
    for (const link of links(page)) {
      if (/^[a-z]+:/.test(link)) continue;
      const [file, hash] = link.split("#");
      const target = file === "" ? page.path : normalize(join(dirname(page.path), file));
      if (target.startsWith("..") || !await exists(target)) {
        broken.push(`${page.path}: ${link}`);
        continue;
      }
      if (hash !== undefined && target.endsWith(".md") && !anchors(await readPage(target)).has(hash)) {
        broken.push(`${page.path}: ${link} (no such heading)`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

/**
 * Finds the command and its options in one `hark …` invocation; returns what
 * the CLI does not know. Quoted words are data; a pipe, `--` or a redirect ends it.
 */
function unknownInInvocation(args: string[]): string[] {
  const known = (name: string, specs: OptionSpecs) =>
    Object.entries(specs).some(([long, spec]) => name === `--${long}` || name === `-${spec.short}`);
  const unknown: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const word = args[i].replace(/^\[+/, "").replace(/[\].]+$/, "");
    if (/^(\||;|&&|\|\||--|>.*|2>.*)$/.test(word)) break;
    if (word.startsWith("-") && word !== "-") {
      const name = word.split("=")[0];
      if (known(name, GLOBAL_OPTIONS)) {
        const spec = Object.entries(GLOBAL_OPTIONS).find(([long]) => name === `--${long}`)?.[1];
        if (spec?.type === "string" && !word.includes("=")) i++;
      } else if (command === undefined || !known(name, options.get(command) ?? {})) {
        unknown.push(`${command ?? ""} ${name}`.trim());
      }
    } else if (command === undefined) {
      // `hark COMMAND [options]` is the usage line itself.
      if (/^[A-Z]+$/.test(word)) return [];
      command = word;
      if (!options.has(command)) return [`command "${command}"`];
    }
  }
  return unknown;
}

Deno.test("every hark command line in the README and docs/ uses commands and options the CLI has", () => {
  const wrong: string[] = [];
  let invocations = 0;
  for (const page of pages) {
    for (const line of commandLines(page)) {
      const words = line.replace(/"[^"]*"|'[^']*'/g, "X").split(/\s+/);
      words.forEach((word, i) => {
        if (word !== "hark" || i + 1 >= words.length) return;
        invocations++;
        for (const problem of unknownInInvocation(words.slice(i + 1))) {
          wrong.push(`${page.path}: ${problem} in "${line}"`);
        }
      });
    }
  }
  assert.ok(invocations > 50, `only ${invocations} invocations found: the reader is broken`);
  assert.deepEqual(wrong, []);
});

Deno.test("docs/cli.md lists every command with exactly its options", async () => {
  const page = await readPage("docs/cli.md");
  const rows = tableRows(section(page, "Every command"));
  const listed = new Map<string, Set<string>>();
  for (const [command, , optionCell] of rows) {
    const name = /^`hark ([a-z]+)/.exec(command)?.[1];
    assert.ok(name && options.has(name), `docs/cli.md lists an unknown command: ${command}`);
    const names = [...optionCell.matchAll(/`(-[\w-]+)/g)].map((match) => match[1]);
    listed.set(name, new Set(names));
  }
  assert.deepEqual([...listed.keys()].sort(), [...options.keys()].sort(), "a command is missing from docs/cli.md");
  for (const [name, specs] of options) {
    const documented = listed.get(name)!;
    const actual = new Set(
      Object.entries(specs).flatMap(([long, spec]) => [`--${long}`, ...(spec.short ? [`-${spec.short}`] : [])]),
    );
    assert.deepEqual(
      [...documented].filter((option) => !actual.has(option) && !(option.slice(2) in GLOBAL_OPTIONS)),
      [],
      `docs/cli.md lists options hark ${name} does not take`,
    );
    assert.deepEqual(
      [...actual].filter((option) => option.startsWith("--") && !documented.has(option)),
      [],
      `docs/cli.md leaves out options of hark ${name}`,
    );
  }
  const globals = new Set(
    codeSpans({ ...page, prose: section(page, "Every command") }).map((span) => span.split(" ")[0]),
  );
  for (const long of Object.keys(GLOBAL_OPTIONS)) {
    assert.ok(globals.has(`--${long}`), `--${long} is not in docs/cli.md`);
  }
});

/** The key tables of docs/config.md: the TOML table each heading names, and the rows under it. */
function keyTables(page: Page): { table: string; rows: string[][] }[] {
  return section(page, "Every key").split(/^### /m).slice(1).map((part) => ({
    table: /^`([^`]+)`/.exec(part)![1],
    rows: tableRows(part),
  }));
}

Deno.test("every config key docs/config.md lists is read by the schema, and every key the schema reads is listed", async () => {
  const page = await readPage("docs/config.md");
  const tables = keyTables(page);
  assert.deepEqual(tables.map((t) => t.table), [
    "[network]",
    "[agent]",
    "[topic.NAME]",
    "[store]",
    "[membership]",
    "[[sink]]",
    "[[escalate]]",
    "[[source]]",
  ]);
  const families = {
    "[[sink]]": { common: SINK_COMMON_FIELDS, kinds: SINK_SCHEMAS },
    "[[source]]": { common: SOURCE_COMMON_FIELDS, kinds: SOURCE_SCHEMAS },
  } as Record<string, { common: Record<string, unknown>; kinds: Record<string, { fields: Record<string, unknown> }> }>;
  // Every key the parser reads in a plain table, so none is left out of its table.
  const plain: Record<string, Record<string, unknown>> = {
    "[network]": NETWORK_FIELDS,
    "[agent]": AGENT_FIELDS,
    "[topic.NAME]": TOPIC_FIELDS,
    "[store]": STORE_FIELDS,
    "[membership]": MEMBERSHIP_FIELDS,
    "[[escalate]]": { ...ESCALATE_FIELDS, publish: "table" },
  };
  const wrong: string[] = [];
  for (const { table, rows } of tables) {
    const family = families[table];
    if (!family) {
      const listed = new Set(rows.map(([cell]) => cell.replaceAll("`", "")));
      for (const key of Object.keys(plain[table] ?? {})) {
        if (!listed.has(key)) wrong.push(`${table} ${key} is not listed`);
      }
      // Read by the real parser: a wrong value is fine here, an unknown key is not.
      for (const [cell] of rows) {
        const key = cell.replaceAll("`", "");
        try {
          parseConfig(`${table.replace("NAME", "t")}\n${key} = 0\n`, "docs/config.md");
        } catch (error) {
          if (/unknown key/.test((error as Error).message)) wrong.push(`${table} ${key}`);
        }
      }
      continue;
    }
    const listed = new Set<string>();
    for (const [cell, kindsCell] of rows) {
      const key = cell.replaceAll("`", "");
      const kinds = kindsCell === "every" ? Object.keys(family.kinds) : kindsCell.split(/,\s*/);
      for (const kind of kinds) {
        if (!(kind in family.kinds)) wrong.push(`${table} ${key}: no kind "${kind}"`);
        else if (!(key in family.common) && !(key in family.kinds[kind].fields)) wrong.push(`${table} ${kind}.${key}`);
        listed.add(`${kind}.${key}`);
      }
    }
    for (const [kind, schema] of Object.entries(family.kinds)) {
      for (const key of [...Object.keys(family.common), ...Object.keys(schema.fields)]) {
        if (!listed.has(`${kind}.${key}`)) wrong.push(`${table} ${kind}.${key} is not listed`);
      }
    }
  }
  assert.deepEqual(wrong, []);
});

/** All of the code and scripts, where a name the docs mention must occur. */
async function sourceText(): Promise<string> {
  const texts = [
    await Deno.readTextFile(new URL("main.ts", ROOT)),
    await Deno.readTextFile(new URL("install.sh", ROOT)),
  ];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(new URL(dir, ROOT))) {
      if (entry.isDirectory) await walk(`${dir}${entry.name}/`);
      else if (entry.name.endsWith(".ts")) texts.push(await Deno.readTextFile(new URL(`${dir}${entry.name}`, ROOT)));
    }
  }
  for (const dir of ["lib/", "sinks/", "tests/"]) await walk(dir);
  return texts.join("\n");
}

Deno.test("every environment variable, metric and deno task the pages name exists", async () => {
  const source = await sourceText();
  const metrics = await Deno.readTextFile(new URL("lib/metrics.ts", ROOT));
  const tasks = Object.keys(JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks);
  const unknown: string[] = [];
  for (const page of pages) {
    for (const [name] of page.text.matchAll(/\bHARK_[A-Z_]+\b/g)) {
      if (!new RegExp(`\\b${name}\\b`).test(source)) unknown.push(`${page.path}: ${name}`);
    }
    for (const [name] of page.text.matchAll(/\bhark_[a-z_]+\b/g)) {
      if (!metrics.includes(`"${name}"`)) unknown.push(`${page.path}: metric ${name}`);
    }
    for (const [, task] of page.text.matchAll(/\bdeno task ([\w-]+)/g)) {
      if (!tasks.includes(task)) unknown.push(`${page.path}: deno task ${task}`);
    }
  }
  assert.deepEqual(unknown, []);
});

Deno.test("the README is the front door: the two commands, install, a first event, and a link to every docs page", async () => {
  const readme = await readPage("README.md");
  const headings = [...readme.prose.matchAll(/^## (.*)$/gm)].map((match) => match[1]);
  assert.deepEqual(headings.slice(0, 2), ["Install", "Two machines, one event"]);
  assert.match(readme.blocks[0].body, /^deno task start\b[\s\S]*^deno task test\b/m);
  assert.match(
    section(readme, "Install"),
    /From a source checkout, `deno task install`[\s\S]*\[docs\/install\.md\]\(docs\/install\.md#from-source\)/,
  );
  const linked = new Set(links(readme).map((link) => link.split("#")[0]));
  for (const page of pages.filter((page) => page.path.startsWith("docs/"))) {
    assert.ok(linked.has(page.path), `the README does not link to ${page.path}`);
  }
});
