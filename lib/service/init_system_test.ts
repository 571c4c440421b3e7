import assert from "node:assert/strict";
import { detectLinuxInit, noSystemdAdvice } from "./init_system.ts";
import { serviceManager, UnsupportedServiceError } from "./platform.ts";
import { serviceUnsupported } from "./state.ts";
import { checkService } from "../doctor/service.ts";
import { serviceState } from "./state.ts";
import type { ServiceHost } from "./host.ts";

/** A stand-in for `/` holding only the given files (a path ending in / is a directory). */
async function fakeRoot(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "hark-root-" });
  for (const [path, text] of Object.entries(files)) {
    if (path.endsWith("/")) await Deno.mkdir(`${root}/${path}`, { recursive: true });
    else {
      await Deno.mkdir(`${root}/${path}`.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeTextFile(`${root}/${path}`, text);
    }
  }
  return root;
}

function linuxHost(root: string, env: Record<string, string> = {}): ServiceHost {
  const environment: Record<string, string> = { HOME: "/home/ann", ...env };
  return {
    os: "linux",
    env: (name) => environment[name],
    uid: 1000,
    execPath: "/usr/local/bin/hark",
    mainModule: "file:///src/main.ts",
    cwd: "/home/ann",
    run: () => Promise.reject(new Error("no tool may run when there is no systemd")),
    systemUnitDir: "/nonexistent",
    makeTempDir: () => Promise.reject(new Error("unused")),
    systemRoot: root,
  };
}

const CASES: { name: string; files: Record<string, string>; env?: Record<string, string>; init: string }[] = [
  { name: "systemd booted", files: { "run/systemd/system/": "", ".dockerenv": "" }, init: "systemd" },
  { name: "WSL by its interop file", files: { "proc/sys/fs/binfmt_misc/WSLInterop": "enabled" }, init: "wsl" },
  {
    name: "WSL by its kernel",
    files: { "proc/version": "Linux version 5.15.153.1-microsoft-standard-WSL2" },
    init: "wsl",
  },
  { name: "WSL by its environment", files: {}, env: { WSL_DISTRO_NAME: "Ubuntu" }, init: "wsl" },
  { name: "Docker", files: { ".dockerenv": "" }, init: "container" },
  { name: "Podman", files: { "run/.containerenv": "" }, init: "container" },
  {
    name: "a container by its cgroup",
    files: { "proc/1/cgroup": "0::/kubepods/besteffort/pod1/abc\n" },
    init: "container",
  },
  { name: "systemd-nspawn's container variable", files: {}, env: { container: "systemd-nspawn" }, init: "container" },
  {
    name: "another init system",
    files: { "proc/version": "Linux version 6.6.0", "proc/1/cgroup": "0::/\n" },
    init: "other",
  },
];

Deno.test("detectLinuxInit() tells systemd, WSL, containers and other init systems apart", async (t) => {
  for (const { name, files, env, init } of CASES) {
    await t.step(name, async () => {
      const root = await fakeRoot(files);
      try {
        assert.equal(detectLinuxInit({ root, env: (key) => env?.[key] }), init);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  }
});

Deno.test("hark service without systemd says what to run instead, and doctor stops suggesting the service", async (t) => {
  const expectations: { files: Record<string, string>; says: RegExp }[] = [
    {
      files: { "proc/sys/fs/binfmt_misc/WSLInterop": "" },
      says: /WSL without systemd.*systemd=true.*hark run --log-file/,
    },
    { files: { ".dockerenv": "" }, says: /container without systemd.*`hark run` the container's command/ },
    { files: { "proc/version": "Linux" }, says: /does not run systemd.*OpenRC, runit/ },
  ];
  for (const { files, says } of expectations) {
    await t.step(says.source, async () => {
      const root = await fakeRoot(files);
      try {
        const host = linuxHost(root);
        for (const scope of ["user", "system"] as const) {
          assert.throws(() => serviceManager(host, scope), (error: Error) => {
            assert.ok(error instanceof UnsupportedServiceError);
            assert.match(error.message, says);
            assert.match(error.message, /`hark service install` cannot work here/);
            return true;
          });
        }
        assert.match(serviceUnsupported(host)!, says);
        const finding = await checkService("/home/ann/.local/state/hark", () => serviceState({}, host));
        assert.notEqual(finding.fix, "hark service install");
        assert.match(finding.detail, says);
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    });
  }
  await t.step("with systemd the service is offered as before", async () => {
    const root = await fakeRoot({ "run/systemd/system/": "" });
    try {
      assert.equal(serviceUnsupported(linuxHost(root)), undefined);
      assert.equal(serviceManager(linuxHost(root), "user").kind, "systemd");
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
  assert.match(noSystemdAdvice("container"), /supervisor/);
});
