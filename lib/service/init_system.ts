/**
 * Whether this Linux machine runs systemd, and when not, what it is instead:
 * WSL without systemd and containers are the common cases, and `hark
 * service install` must say what works there rather than fail in systemctl.
 * systemd's own test (sd_booted) is whether /run/systemd/system exists.
 */

import { joinPath } from "./platform_path.ts";

export type LinuxInit = "systemd" | "wsl" | "container" | "other";

/** What the probe reads: the files under `root` (a stand-in for `/` in tests) and the environment. */
export interface InitProbe {
  root: string;
  env(name: string): string | undefined;
}

export function detectLinuxInit(probe: InitProbe): LinuxInit {
  const path = (...parts: string[]) => joinPath("linux", probe.root, ...parts);
  if (isDirectory(path("run", "systemd", "system"))) return "systemd";
  if (
    exists(path("proc", "sys", "fs", "binfmt_misc", "WSLInterop")) || probe.env("WSL_DISTRO_NAME") ||
    /microsoft/i.test(readText(path("proc", "version")))
  ) return "wsl";
  if (
    exists(path(".dockerenv")) || exists(path("run", ".containerenv")) || probe.env("container") ||
    /docker|kubepods|containerd|libpod|lxc/.test(readText(path("proc", "1", "cgroup")))
  ) return "container";
  return "other";
}

/** Why `hark service` cannot work here, and what to do instead. */
export function noSystemdAdvice(init: Exclude<LinuxInit, "systemd">): string {
  switch (init) {
    case "wsl":
      return "This is WSL without systemd, so `hark service install` cannot work here. Either turn systemd on " +
        "(put `[boot]` and `systemd=true` in /etc/wsl.conf, run `wsl --shutdown` in Windows, open WSL again) and " +
        "install the service then, or start `hark run --log-file FILE` yourself, e.g. from your shell's profile.";
    case "container":
      return "This is a container without systemd, so `hark service install` cannot work here. Make `hark run` " +
        "the container's command and let its supervisor keep it running (`docker run --restart unless-stopped`, " +
        "a Kubernetes pod, or supervisord or s6 inside the image); it logs to stdout.";
    case "other":
      return "This Linux system does not run systemd (there is no /run/systemd/system), so `hark service install` " +
        "cannot work here. Start `hark run --log-file FILE` from the init system you have (OpenRC, runit, s6, " +
        "SysV init) or from your session's start-up programs.";
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function readText(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}
