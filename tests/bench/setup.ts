/** What the benchmark needs on the machine, and a description of the machine. */

const PACKAGES: Record<string, string> = {
  serf: "serf",
  mosquitto: "mosquitto",
  mosquitto_sub: "mosquitto-clients",
  mosquitto_pub: "mosquitto-clients",
  "/usr/bin/time": "time",
};

async function found(command: string): Promise<boolean> {
  if (command.startsWith("/")) return await Deno.stat(command).then(() => true, () => false);
  const which = await new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" }).output();
  return which.success;
}

/** Installs serf, mosquitto, its clients and GNU time from Debian where missing. */
export async function ensurePackages(): Promise<void> {
  const missing = new Set<string>();
  for (const [command, pkg] of Object.entries(PACKAGES)) if (!(await found(command))) missing.add(pkg);
  if (missing.size === 0) return;
  const list = [...missing].join(" ");
  console.error(`Installing ${list} from Debian...`);
  const install = await new Deno.Command("sh", {
    args: [
      "-c",
      `apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${list} >/dev/null`,
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!install.success) throw new Error(`could not install ${list}; run as root or install them yourself`);
}

export interface Machine {
  cores: number;
  cpu: string;
  memoryGiB: number;
  deno: string;
  v8: string;
  os: string;
  serf: string;
  mosquitto: string;
}

async function firstLine(argv: string[]): Promise<string> {
  const [command, ...args] = argv;
  const output = await new Deno.Command(command, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return text.trim().split("\n")[0] ?? "";
}

export async function describeMachine(): Promise<Machine> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return {
    cores: navigator.hardwareConcurrency,
    cpu: /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown",
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    serf: (await firstLine(["serf", "version"])).replace(/^Serf /, ""),
    mosquitto: (await firstLine(["mosquitto", "-h"])).replace(/^mosquitto version /, ""),
  };
}
