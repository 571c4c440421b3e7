/**
 * install.sh against a fake release on a local HTTP server: the "binaries"
 * are small shell scripts that record how they were called, so each case
 * sees which one was installed and whether `hark service install` ran.
 * A fake `uname` on PATH stands in for the other platforms.
 */

import assert from "node:assert/strict";
import { haveTools } from "./helpers/tools.ts";

const INSTALL_SH = new URL("../install.sh", import.meta.url).pathname;
const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];
const VERSION = "0.1.0";
const POSIX = Deno.build.os !== "windows";
// Where .ci/run runs, these are installed and the optional cases below run;
// elsewhere each case says which tool it lacks.
if (Deno.build.os === "linux") {
  haveTools("install_sh_test under dash, shellcheck, wget", ["dash", "shellcheck", "wget", "shasum"]);
}
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function assetName(target: string): string {
  return `hark-${VERSION}-${target}${target.includes("windows") ? ".exe" : ""}`;
}

/** A stand-in for the binary of `target`: it appends its argv to $HARK_FAKE_LOG. */
function fakeBinary(target: string): string {
  return `#!/bin/sh
# fake hark for ${target}
printf '%s\\n' "$*" >> "$HARK_FAKE_LOG"
case "$1" in
  --version) echo "hark ${VERSION} (fake ${target})" ;;
  service) [ -z "\${FAKE_SERVICE_FAILS:-}" ] || { echo "no systemd here" >&2; exit 1; } ;;
esac
`;
}

async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The files of a release, as the release workflow uploads them. */
async function releaseFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const target of TARGETS) files.set(assetName(target), fakeBinary(target));
  files.set("install.sh", await Deno.readTextFile(INSTALL_SH));
  const sums = await Promise.all([...files].map(async ([name, text]) => `${await sha256(text)}  ${name}\n`));
  files.set("SHA256SUMS", sums.join(""));
  return files;
}

/** Serves `files` under each of `prefixes`; records every path asked for. */
class FakeRelease {
  readonly requests: string[] = [];
  readonly files: Map<string, string>;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(files: Map<string, string>, prefixes: string[]) {
    this.files = files;
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      const path = new URL(request.url).pathname;
      this.requests.push(path);
      const prefix = prefixes.find((candidate) => path.startsWith(candidate));
      const body = prefix === undefined ? undefined : files.get(path.slice(prefix.length));
      return body === undefined ? new Response("not found", { status: 404 }) : new Response(body);
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#server.shutdown();
  }
}

interface InstallResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Every call of the installed fake binary, one argv per line. */
  calls: string[];
}

interface InstallOptions {
  env?: Record<string, string>;
  args?: string[];
  shell?: string;
  /** Directories put before the real PATH. */
  pathBefore?: string[];
  /** Replaces PATH altogether. */
  path?: string;
}

/** A scratch directory with HOME, a log for the fake binary and a fake `uname`. */
class Sandbox {
  readonly root: string;

  private constructor(root: string) {
    this.root = root;
  }

  static async create(): Promise<Sandbox> {
    const sandbox = new Sandbox(await Deno.makeTempDir({ prefix: "hark-install-test-" }));
    await Deno.mkdir(`${sandbox.root}/home`);
    await Deno.mkdir(`${sandbox.root}/fake-uname`);
    await Deno.writeTextFile(
      `${sandbox.root}/fake-uname/uname`,
      '#!/bin/sh\ncase "$1" in -s) echo "$FAKE_UNAME_S" ;; -m) echo "$FAKE_UNAME_M" ;; *) exit 1 ;; esac\n',
      { mode: 0o755 },
    );
    return sandbox;
  }

  get bin(): string {
    return `${this.root}/bin`;
  }

  /** `PATH` entries that make install.sh see another platform. */
  unameAs(os: string, arch: string): InstallOptions {
    return { pathBefore: [`${this.root}/fake-uname`], env: { FAKE_UNAME_S: os, FAKE_UNAME_M: arch } };
  }

  async install(base: string | undefined, options: InstallOptions = {}): Promise<InstallResult> {
    const log = `${this.root}/calls.log`;
    await Deno.writeTextFile(log, "");
    const path = options.path ?? [...(options.pathBefore ?? []), Deno.env.get("PATH") ?? ""].join(":");
    const env: Record<string, string> = {
      PATH: path,
      HOME: `${this.root}/home`,
      HARK_FAKE_LOG: log,
      ...(base === undefined ? {} : { HARK_RELEASE_URL: base }),
      ...options.env,
    };
    const output = await new Deno.Command(options.shell ?? "sh", {
      args: [INSTALL_SH, ...(options.args ?? [])],
      clearEnv: true,
      env,
      stdin: "null",
    }).output();
    const calls = (await Deno.readTextFile(log)).split("\n").filter(Boolean);
    return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr), calls };
  }

  /** Names in `dir`, to prove nothing half-written is left behind. */
  async list(dir: string): Promise<string[]> {
    try {
      return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return [];
      throw error;
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true });
  }
}

function installed(result: InstallResult): string {
  return `exit ${result.code}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** Which fake binary a file is. */
async function targetOf(path: string): Promise<string | undefined> {
  return /# fake hark for (\S+)/.exec(await Deno.readTextFile(path))?.[1];
}

async function available(command: string): Promise<boolean> {
  try {
    const { code } = await new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" }).output();
    return code === 0;
  } catch {
    return false;
  }
}

/**
 * A PATH directory with links to every program on PATH except `hidden`, so
 * a case can run on a machine that lacks curl or sha256sum.
 */
async function pathWithout(into: string, hidden: string[]): Promise<string> {
  await Deno.mkdir(into);
  const seen = new Set(hidden);
  for (const dir of (Deno.env.get("PATH") ?? "").split(":").filter(Boolean)) {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(dir));
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (seen.has(entry.name)) continue;
      seen.add(entry.name);
      await Deno.symlink(`${dir}/${entry.name}`, `${into}/${entry.name}`);
    }
  }
  return into;
}

const DOWNLOAD = "/download/";

Deno.test({
  name: "install.sh installs this machine's binary, checks it and runs `hark service install`",
  ignore: !POSIX,
  async fn(t) {
    const shells = ["sh"];
    // Debian's sh is dash already; elsewhere dash proves the script is POSIX.
    for (const shell of ["dash", "bash"]) if (await available(shell)) shells.push(shell);
    for (const shell of shells) {
      await t.step(`under ${shell}, into ~/.local/bin by default`, async () => {
        await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
        await using sandbox = await Sandbox.create();
        const result = await sandbox.install(release.url + DOWNLOAD, { shell });
        assert.equal(result.code, 0, installed(result));
        const binary = `${sandbox.root}/home/.local/bin/hark`;
        assert.equal(await targetOf(binary), Deno.build.target);
        assert.equal((await Deno.stat(binary)).mode! & 0o777, 0o755);
        assert.deepEqual(result.calls, ["--version", "service install"]);
        assert.deepEqual(await sandbox.list(`${sandbox.root}/home/.local/bin`), ["hark"]);
        assert.deepEqual(release.requests, [`${DOWNLOAD}SHA256SUMS`, `${DOWNLOAD}${assetName(Deno.build.target)}`]);
        assert.match(result.stdout, new RegExp(`Installed hark ${VERSION} \\(fake ${Deno.build.target}\\) to `));
        assert.match(result.stdout, /\.local\/bin is not on your PATH/);
        assert.match(result.stdout, /hark network show/);
      });
    }

    await t.step("replaces an older binary by renaming over it", async () => {
      await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
      await using sandbox = await Sandbox.create();
      await Deno.mkdir(sandbox.bin);
      await Deno.writeTextFile(`${sandbox.bin}/hark`, "#!/bin/sh\necho old\n", { mode: 0o755 });
      const result = await sandbox.install(release.url + DOWNLOAD, {
        env: { HARK_INSTALL_DIR: sandbox.bin },
        pathBefore: [sandbox.bin],
      });
      assert.equal(result.code, 0, installed(result));
      assert.equal(await targetOf(`${sandbox.bin}/hark`), Deno.build.target);
      assert.doesNotMatch(result.stdout, /not on your PATH/);
    });
  },
});

Deno.test({
  name: "install.sh refuses a download whose checksum does not match, and installs nothing",
  ignore: !POSIX,
  async fn() {
    const files = await releaseFiles();
    const asset = assetName(Deno.build.target);
    files.set(asset, files.get(asset)! + "# tampered\n");
    await using release = new FakeRelease(files, [DOWNLOAD]);
    await using sandbox = await Sandbox.create();
    const result = await sandbox.install(release.url + DOWNLOAD, { env: { HARK_INSTALL_DIR: sandbox.bin } });
    assert.equal(result.code, 1, installed(result));
    assert.match(result.stderr, new RegExp(`checksum mismatch for ${asset}: .*nothing was installed`));
    assert.deepEqual(await sandbox.list(sandbox.bin), []);
    assert.deepEqual(result.calls, []);
  },
});

Deno.test({
  name: "install.sh skips the service with HARK_NO_SERVICE=1 or --no-service",
  ignore: !POSIX,
  async fn(t) {
    const cases: [string, InstallOptions][] = [
      ["HARK_NO_SERVICE=1", { env: { HARK_NO_SERVICE: "1" } }],
      ["--no-service", { args: ["--no-service"] }],
    ];
    for (const [name, options] of cases) {
      await t.step(name, async () => {
        await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
        await using sandbox = await Sandbox.create();
        const result = await sandbox.install(release.url + DOWNLOAD, {
          ...options,
          env: { HARK_INSTALL_DIR: sandbox.bin, ...options.env },
        });
        assert.equal(result.code, 0, installed(result));
        assert.deepEqual(result.calls, ["--version"]);
        assert.match(result.stdout, /hark network create NAME/);
        assert.match(result.stdout, /hark run /);
      });
    }
  },
});

Deno.test({
  name: "install.sh picks the binary for each platform and names the ones it cannot serve",
  ignore: !POSIX,
  async fn(t) {
    const supported: [string, string, string][] = [
      ["Linux", "x86_64", "x86_64-unknown-linux-gnu"],
      ["Linux", "aarch64", "aarch64-unknown-linux-gnu"],
      ["Linux", "arm64", "aarch64-unknown-linux-gnu"],
      ["Darwin", "x86_64", "x86_64-apple-darwin"],
      ["Darwin", "arm64", "aarch64-apple-darwin"],
    ];
    for (const [os, arch, target] of supported) {
      await t.step(`${os} ${arch} gets ${target}`, async () => {
        await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
        await using sandbox = await Sandbox.create();
        const platform = sandbox.unameAs(os, arch);
        const result = await sandbox.install(release.url + DOWNLOAD, {
          ...platform,
          env: { ...platform.env, HARK_INSTALL_DIR: sandbox.bin, HARK_NO_SERVICE: "1" },
        });
        assert.equal(result.code, 0, installed(result));
        assert.equal(await targetOf(`${sandbox.bin}/hark`), target);
      });
    }
    const unsupported: [string, string, RegExp][] = [
      ["FreeBSD", "amd64", /no hark binary for FreeBSD; build one from source with `deno task compile`/],
      ["Linux", "armv7l", /no hark binary for the armv7l processor/],
      ["MINGW64_NT-10.0-19045", "x86_64", /on Windows, download hark-VERSION-x86_64-pc-windows-msvc\.exe/],
    ];
    for (const [os, arch, message] of unsupported) {
      await t.step(`${os} ${arch} fails clearly`, async () => {
        await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
        await using sandbox = await Sandbox.create();
        const platform = sandbox.unameAs(os, arch);
        const result = await sandbox.install(release.url + DOWNLOAD, {
          ...platform,
          env: { ...platform.env, HARK_INSTALL_DIR: sandbox.bin },
        });
        assert.equal(result.code, 1, installed(result));
        assert.match(result.stderr, message);
        assert.deepEqual(release.requests, []);
        assert.deepEqual(await sandbox.list(sandbox.bin), []);
      });
    }
  },
});

Deno.test({
  name: "install.sh downloads the latest release, or the one HARK_VERSION names, of HARK_REPO",
  ignore: !POSIX,
  async fn(t) {
    const cases: [string, Record<string, string>, string][] = [
      ["latest", {}, "/acme/hark/releases/latest/download/"],
      ["HARK_VERSION=0.2.0", { HARK_VERSION: "0.2.0" }, "/acme/hark/releases/download/v0.2.0/"],
      ["HARK_VERSION=v0.2.0", { HARK_VERSION: "v0.2.0" }, "/acme/hark/releases/download/v0.2.0/"],
    ];
    for (const [name, env, prefix] of cases) {
      await t.step(name, async () => {
        await using release = new FakeRelease(await releaseFiles(), [prefix]);
        await using sandbox = await Sandbox.create();
        const result = await sandbox.install(undefined, {
          env: {
            ...env,
            HARK_GITHUB_URL: release.url,
            HARK_REPO: "acme/hark",
            HARK_INSTALL_DIR: sandbox.bin,
            HARK_NO_SERVICE: "1",
          },
        });
        assert.equal(result.code, 0, installed(result));
        assert.deepEqual(release.requests, [`${prefix}SHA256SUMS`, `${prefix}${assetName(Deno.build.target)}`]);
      });
    }
  },
});

Deno.test({
  name: "install.sh fails clearly when the release lacks a file or the service cannot be installed",
  ignore: !POSIX,
  async fn(t) {
    await t.step("no SHA256SUMS", async () => {
      await using release = new FakeRelease(new Map(), [DOWNLOAD]);
      await using sandbox = await Sandbox.create();
      const result = await sandbox.install(release.url + DOWNLOAD, { env: { HARK_INSTALL_DIR: sandbox.bin } });
      assert.equal(result.code, 1, installed(result));
      assert.match(result.stderr, new RegExp(`cannot download ${release.url}${DOWNLOAD}SHA256SUMS`));
    });

    await t.step("no binary for this platform in SHA256SUMS", async () => {
      const files = await releaseFiles();
      const sums = files.get("SHA256SUMS")!.split("\n").filter((line) => !line.endsWith(Deno.build.target));
      files.set("SHA256SUMS", sums.join("\n"));
      await using release = new FakeRelease(files, [DOWNLOAD]);
      await using sandbox = await Sandbox.create();
      const result = await sandbox.install(release.url + DOWNLOAD, { env: { HARK_INSTALL_DIR: sandbox.bin } });
      assert.equal(result.code, 1, installed(result));
      assert.match(result.stderr, new RegExp(`has no binary for ${Deno.build.target}`));
      assert.deepEqual(await sandbox.list(sandbox.bin), []);
    });

    await t.step("`hark service install` fails: hark stays installed, exit 1", async () => {
      await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
      await using sandbox = await Sandbox.create();
      const result = await sandbox.install(release.url + DOWNLOAD, {
        env: { HARK_INSTALL_DIR: sandbox.bin, FAKE_SERVICE_FAILS: "1" },
      });
      assert.equal(result.code, 1, installed(result));
      assert.match(result.stderr, /`hark service install` failed \(see above\)\. hark itself is installed/);
      assert.equal(await targetOf(`${sandbox.bin}/hark`), Deno.build.target);
    });

    await t.step("an unknown option is a usage error", async () => {
      await using sandbox = await Sandbox.create();
      const result = await sandbox.install("http://127.0.0.1:9", { args: ["--frobnicate"] });
      assert.equal(result.code, 2, installed(result));
      assert.match(result.stderr, /unknown option "--frobnicate"/);
    });
  },
});

Deno.test({
  name: "install.sh works with wget and shasum when curl and sha256sum are missing",
  ignore: !POSIX,
  async fn(t) {
    const missing = [];
    for (const tool of ["wget", "shasum"]) if (!(await available(tool))) missing.push(tool);
    await t.step({
      name: `with wget and shasum${missing.length ? ` (skipped: no ${missing.join(", ")} here)` : ""}`,
      ignore: missing.length > 0,
      async fn() {
        await using release = new FakeRelease(await releaseFiles(), [DOWNLOAD]);
        await using sandbox = await Sandbox.create();
        const path = await pathWithout(`${sandbox.root}/path`, ["curl", "sha256sum"]);
        const result = await sandbox.install(release.url + DOWNLOAD, {
          path,
          env: { HARK_INSTALL_DIR: sandbox.bin, HARK_NO_SERVICE: "1" },
        });
        assert.equal(result.code, 0, installed(result));
        assert.equal(await targetOf(`${sandbox.bin}/hark`), Deno.build.target);
      },
    });

    await t.step("with neither curl nor wget", async () => {
      await using sandbox = await Sandbox.create();
      const path = await pathWithout(`${sandbox.root}/path`, ["curl", "wget"]);
      const result = await sandbox.install("http://127.0.0.1:9", { path, env: { HARK_INSTALL_DIR: sandbox.bin } });
      assert.equal(result.code, 1, installed(result));
      assert.match(result.stderr, /needs curl or wget/);
    });
  },
});

Deno.test({
  name: "install.sh parses in every POSIX shell here and passes shellcheck where it is installed",
  ignore: !POSIX,
  async fn(t) {
    for (const shell of ["sh", "dash", "bash", "shellcheck"]) {
      const present = await available(shell);
      await t.step({
        name: present ? shell : `${shell} (not installed)`,
        ignore: !present,
        fn: async () => {
          const args = shell === "shellcheck" ? ["--shell=sh", INSTALL_SH] : ["-n", INSTALL_SH];
          const output = await new Deno.Command(shell, { args }).output();
          assert.equal(output.code, 0, decoder.decode(output.stdout) + decoder.decode(output.stderr));
        },
      });
    }
  },
});
