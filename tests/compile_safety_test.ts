/**
 * Keeps hark compile-safe. `deno compile` embeds the modules it can see from
 * main.ts, and a binary has no source tree next to it, so code that ships
 * (main.ts, lib/, sinks/; not tests) must
 *   - import lazily only by string literal: `await import("./run.ts")`;
 *   - not reach for files beside its source (`import.meta.url`, `.dirname`,
 *     `.filename`, `.resolve`): they point into the build machine's checkout.
 * The check walks the syntax tree with Deno's lint plugin runner, so comments
 * and strings that mention these never count.
 */

import assert from "node:assert/strict";
import { HARK_LAZY_IMPORTS_FLAG, HARK_V8_FLAGS } from "../lib/service/program.ts";
import { denoConfig } from "./helpers/deno_config.ts";

const ROOT = new URL("../", import.meta.url);
const SHIPPED = ["main.ts", "lib", "sinks"];
const SOURCE_RELATIVE = new Set(["url", "dirname", "filename", "resolve"]);

/**
 * The two places that must break the rules, each once and for a reason:
 * a plugin's Worker starts from a URL beside its host (the build embeds it
 * with `--include`, checked below), and the Worker imports the user's plugin
 * file, which is never part of the build.
 */
const EXEMPT: [path: string, problem: string][] = [
  ["sinks/plugin/mod.ts", "import.meta.url points into the source tree"],
  ["sinks/plugin/worker.ts", "import() of a computed specifier"],
];

const plugin: Deno.lint.Plugin = {
  name: "compile-safety",
  rules: {
    "literal-dynamic-import": {
      create(context) {
        return {
          ImportExpression(node) {
            if (node.source.type === "Literal" && typeof node.source.value === "string") return;
            context.report({
              node,
              message:
                "import() of a computed specifier: deno compile embeds only modules named by a string literal; " +
                'write `await import("./module.ts")`',
            });
          },
        };
      },
    },
    "no-source-relative-paths": {
      create(context) {
        return {
          MemberExpression(node) {
            const { object, property } = node;
            if (object.type !== "MetaProperty" || object.meta.name !== "import") return;
            if (property.type !== "Identifier" || !SOURCE_RELATIVE.has(property.name)) return;
            context.report({
              node,
              message: `import.meta.${property.name} points into the source tree, which a compiled binary does not ` +
                "have; take the path from config, the state dir or Deno.execPath(), or import the data as a module",
            });
          },
        };
      },
    },
  },
};

/** One line per problem: `path:line:column: message`. */
function check(path: string, text: string): string[] {
  return Deno.lint.runPlugin(plugin, path, text).map((diagnostic) => {
    const before = text.slice(0, diagnostic.range[0]).split("\n");
    return `${path}:${before.length}:${before.at(-1)!.length + 1}: ${diagnostic.message}`;
  });
}

/** The TypeScript files under `path` (a file or a directory), without unit tests. */
async function* shippedFiles(path: string): AsyncGenerator<string> {
  const info = await Deno.stat(new URL(path, ROOT));
  if (info.isFile) {
    yield path;
    return;
  }
  const entries = await Array.fromAsync(Deno.readDir(new URL(path, ROOT)));
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const child = `${path}/${entry.name}`;
    if (entry.isDirectory) yield* shippedFiles(child);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield child;
  }
}

Deno.test("shipped code imports by string literal and reads no files beside its source", async () => {
  const problems: string[] = [];
  let files = 0;
  for (const root of SHIPPED) {
    for await (const path of shippedFiles(root)) {
      files++;
      problems.push(...check(path, await Deno.readTextFile(new URL(path, ROOT))));
    }
  }
  assert.ok(files > 20, `found only ${files} files under ${SHIPPED.join(", ")}`);
  const exempt = (problem: string) =>
    EXEMPT.some(([path, what]) => problem.startsWith(`${path}:`) && problem.includes(what));
  for (const [path, what] of EXEMPT) {
    const count = problems.filter((problem) => problem.startsWith(`${path}:`) && problem.includes(what)).length;
    assert.equal(count, 1, `the exemption for ${path} (${what}) should match exactly once, not ${count} times`);
  }
  const left = problems.filter((problem) => !exempt(problem));
  assert.deepEqual(left, [], `Not compile-safe:\n${left.join("\n")}`);
});

Deno.test("the compile-safety check flags what deno compile cannot follow, and nothing else", async (t) => {
  const cases: [string, string, RegExp | undefined][] = [
    ["string literal import", 'await import("./run.ts");', undefined],
    ["import.meta.main", "if (import.meta.main) main();", undefined],
    [
      "a comment or string that mentions them",
      '// import(name), import.meta.url\nconst s = "import.meta.dirname";',
      undefined,
    ],
    ["computed import", "await import(name);", /^a\.ts:1:7: import\(\) of a computed specifier/],
    ["template import", "await import(`./${name}.ts`);", /^a\.ts:1:7: import\(\) of a computed specifier/],
    [
      "file beside the source",
      '\nconst u = new URL("./x.json", import.meta.url);',
      /^a\.ts:2:31: import\.meta\.url points/,
    ],
    ["import.meta.dirname", "Deno.readTextFile(import.meta.dirname + '/x');", /^a\.ts:1:19: import\.meta\.dirname/],
    ["import.meta.filename", "const f = import.meta.filename;", /^a\.ts:1:11: import\.meta\.filename/],
    ["import.meta.resolve", 'const r = import.meta.resolve("./x");', /^a\.ts:1:11: import\.meta\.resolve/],
  ];
  for (const [name, source, expected] of cases) {
    await t.step(name, () => {
      const problems = check("a.ts", source);
      if (expected === undefined) assert.deepEqual(problems, []);
      else {
        assert.equal(problems.length, 1, problems.join("\n"));
        assert.match(problems[0], expected);
      }
    });
  }
});

/** A `deno compile` command's flags, without where the binary goes and for which platform. */
function compileFlags(command: string): string[] {
  const words = command.trim().split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "compile"], `not a deno compile command: ${command}`);
  const flags: string[] = [];
  for (let i = 2; i < words.length; i++) {
    if (words[i] === "--output" || words[i] === "--target") i++;
    else flags.push(words[i]);
  }
  return flags.sort();
}

Deno.test("the release workflow compiles with the flags of `deno task compile`", async () => {
  const task = (await denoConfig()).tasks.compile;
  assert.match(task, /--output dist\/hark /);
  const workflow = await Deno.readTextFile(new URL(".github/workflows/release.yml", ROOT));
  const commands = workflow.split("\n").map((line) => line.trim().replace(/^run: /, ""))
    .filter((line) => line.startsWith("deno compile "));
  assert.equal(commands.length, 1, `expected one deno compile in release.yml, found:\n${commands.join("\n")}`);
  assert.deepEqual(compileFlags(commands[0]), compileFlags(task));
});

Deno.test("deno.json starts and compiles the agent with hark's V8 flags", async () => {
  const { tasks } = await denoConfig();
  for (const name of ["start", "compile"]) {
    assert.ok(
      tasks[name].split(/\s+/).includes(`--v8-flags=${HARK_V8_FLAGS}`),
      `deno task ${name} lacks --v8-flags=${HARK_V8_FLAGS}: ${tasks[name]}`,
    );
  }
});

Deno.test("plugins' Workers are part of the build: deno.json allows their permissions, compile includes their entry", async () => {
  const config = await denoConfig();
  assert.ok(config.unstable?.includes("worker-options"), `deno.json "unstable" lacks "worker-options"`);
  // sinks/plugin/mod.ts starts the Worker from a URL, which deno compile does not follow.
  assert.ok(
    config.tasks.compile.split(/\s+/).join(" ").includes("--include sinks/plugin/worker.ts"),
    `deno task compile lacks --include sinks/plugin/worker.ts: ${config.tasks.compile}`,
  );
  const source = await Deno.readTextFile(new URL("sinks/plugin/mod.ts", ROOT));
  assert.match(source, /new URL\("\.\/worker\.ts", import\.meta\.url\)/);
});

Deno.test("commands load lazily under deno task start, and never so in a build", async () => {
  const config = await denoConfig();
  assert.ok(
    config.tasks.start.split(/\s+/).includes(HARK_LAZY_IMPORTS_FLAG),
    `deno task start lacks ${HARK_LAZY_IMPORTS_FLAG}: ${config.tasks.start}`,
  );
  // With it, deno compile leaves every dynamically imported module, every command, out of the binary.
  assert.ok(
    !config.unstable?.includes("lazy-dynamic-imports"),
    `deno.json "unstable" must not hold "lazy-dynamic-imports"`,
  );
  const workflow = await Deno.readTextFile(new URL(".github/workflows/release.yml", ROOT));
  for (const [where, text] of [["deno task compile", config.tasks.compile], ["release.yml", workflow]]) {
    assert.ok(!text.includes("lazy-dynamic-imports"), `${where} must not load imports lazily`);
  }
});

/** Every module that shipped code imports with `import("./…")`, as paths from the root. */
async function lazilyImported(): Promise<string[]> {
  const found = new Set<string>();
  for (const root of SHIPPED) {
    for await (const path of shippedFiles(root)) {
      const text = await Deno.readTextFile(new URL(path, ROOT));
      for (const [, specifier] of text.matchAll(/\bimport\("(\.{1,2}\/[^"]+)"\)/g)) {
        found.add(new URL(specifier, new URL(path, ROOT)).href.slice(ROOT.href.length));
      }
    }
  }
  return [...found].sort();
}

/**
 * A real \`deno compile\` with the flags of \`deno task compile\`. Its runtime
 * (denort) is downloaded from a host tests cannot reach, so DENORT_BIN names
 * deno itself: the result does not run, but the build lists what it embedded.
 */
Deno.test("deno compile embeds every command and the plugin Worker", async () => {
  const { compile } = (await denoConfig()).tasks;
  const dir = await Deno.makeTempDir({ prefix: "hark-compile-" });
  try {
    // Type checking is deno task check's job; here it would only add time.
    const args = ["compile", "--no-check", ...compile.split(/\s+/).slice(2)]
      .map((arg: string) => arg === "dist/hark" ? `${dir}/hark` : arg);
    const output = await new Deno.Command(Deno.execPath(), {
      args,
      cwd: new URL(".", ROOT),
      env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    assert.ok(output.success, `deno compile failed:\n${text}`);
    const embedded = embeddedFiles(text);
    const expected = [...await lazilyImported(), "sinks/plugin/worker.ts"];
    assert.ok(expected.some((path) => path.startsWith("lib/cli/")), "main.ts's commands are found");
    // A directory embedded whole is listed as `dir/*`.
    const whole = [...embedded].filter((path) => path.endsWith("/*")).map((path) => path.slice(0, -1));
    const isEmbedded = (path: string) => embedded.has(path) || whole.some((dir) => path.startsWith(dir));
    assert.deepEqual(expected.filter((path) => !isEmbedded(path)), [], "left out of the binary");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * The paths in deno compile's "Embedded Files" tree, from the project root:
 * each line is indented by two characters a level, a directory ends its line
 * with its size like a file does but has entries below it. The tree's root
 * is the project: every embedded module of ours is inside it.
 */
function embeddedFiles(report: string): Set<string> {
  const lines = report.split("\n");
  const start = lines.findIndex((line) => line.trim() === "Embedded Files");
  const stack: { depth: number; name: string }[] = [];
  const paths = new Set<string>();
  for (const line of lines.slice(start + 1)) {
    const match = /^([\s│├└─┬]*)([^\s│├└─┬].*?) \([\d.]+[KMG]?B\)$/.exec(line);
    if (!match) continue;
    const depth = match[1].length;
    while (stack.length > 0 && stack.at(-1)!.depth >= depth) stack.pop();
    stack.push({ depth, name: match[2] });
    paths.add(stack.map((part) => part.name).join("/"));
  }
  return paths;
}
