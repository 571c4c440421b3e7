/**
 * Programs that tests run, checked in one place. `.ci/tools` lists each
 * with the Debian package that brings it; `.ci/run` installs them all and
 * sets HARK_TEST_TOOLS=required. Then a missing program is a failed test
 * that names the package, so an install step `.ci/run` lacks cannot hide
 * behind a skip. Elsewhere (a developer's laptop) the test is skipped, with
 * a warning that says what to install.
 */

const TOOLS_FILE = new URL("../../.ci/tools", import.meta.url);

/** program → Debian package, from `.ci/tools`. */
export const TOOL_PACKAGES: ReadonlyMap<string, string> = new Map(
  Deno.readTextFileSync(TOOLS_FILE).split("\n")
    .filter((line) => line.trim() !== "" && !line.startsWith("#"))
    .map((line) => {
      const [program, pkg] = line.trim().split(/\s+/);
      return [program, pkg];
    }),
);

/** True when .ci/run promised that every program in `.ci/tools` is installed. */
export function toolsRequired(): boolean {
  return Deno.env.get("HARK_TEST_TOOLS") === "required";
}

/** Whether `program` is an executable file in a PATH directory. */
export function onPath(program: string): boolean {
  const separator = Deno.build.os === "windows" ? ";" : ":";
  for (const dir of (Deno.env.get("PATH") ?? "").split(separator)) {
    if (dir === "") continue;
    try {
      const info = Deno.statSync(`${dir}/${program}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return true;
    } catch {
      // Not in this directory.
    }
  }
  return false;
}

/**
 * Checks that `programs` are installed, for the tests named `what`. Returns
 * true when they are. When they are not, either registers a failing test
 * (under .ci/run) or warns that `what` is skipped, and returns false: pass
 * the negation as the tests' `ignore`.
 */
export function haveTools(what: string, programs: string[]): boolean {
  const unknown = programs.filter((program) => !TOOL_PACKAGES.has(program));
  if (unknown.length > 0) {
    throw new Error(`tests/helpers/tools.ts: ${unknown.join(", ")} not listed in .ci/tools; add a line for each`);
  }
  const missing = programs.filter((program) => !onPath(program));
  if (missing.length === 0) return true;
  const packages = [...new Set(missing.map((program) => TOOL_PACKAGES.get(program)!))];
  unavailable(what, `${missing.join(", ")} not installed (apt-get install ${packages.join(" ")})`);
  return false;
}

/**
 * Reports that the tests named `what` cannot run here, and why: a failing
 * test under .ci/run, which should have made them runnable; a loud skip
 * elsewhere.
 */
export function unavailable(what: string, why: string): void {
  if (toolsRequired()) {
    Deno.test(`${what}: needs what .ci/run installs`, () => {
      throw new Error(`${what} cannot run: ${why}. .ci/run should have installed it; see .ci/tools`);
    });
  } else {
    console.warn(`SKIPPED ${what}: ${why}`);
  }
}
