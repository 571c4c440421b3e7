/** Default locations of the config file and the state dir, per platform. */

export interface DefaultPaths {
  config: string;
  stateDir: string;
}

type Env = (name: string) => string | undefined;

/** SPEC's defaults: XDG on Linux, the platform's equivalents elsewhere. */
export function defaultPaths(
  os: typeof Deno.build.os = Deno.build.os,
  env: Env = (name) => Deno.env.get(name),
): DefaultPaths {
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  if (os === "windows") {
    const appData = env("APPDATA") ?? `${home}\\AppData\\Roaming`;
    const localAppData = env("LOCALAPPDATA") ?? `${home}\\AppData\\Local`;
    return { config: `${appData}\\hark\\config.toml`, stateDir: `${localAppData}\\hark` };
  }
  if (os === "darwin") {
    const support = `${home}/Library/Application Support/hark`;
    return { config: `${support}/config.toml`, stateDir: support };
  }
  const configHome = env("XDG_CONFIG_HOME") || `${home}/.config`;
  const stateHome = env("XDG_STATE_HOME") || `${home}/.local/state`;
  return { config: `${configHome}/hark/config.toml`, stateDir: `${stateHome}/hark` };
}

/** `dir` joined with `name` using the platform's separator. */
export function inDir(dir: string, name: string): string {
  const separator = Deno.build.os === "windows" ? "\\" : "/";
  return dir.endsWith(separator) ? dir + name : dir + separator + name;
}

/** The control socket path inside a state dir. */
export function socketPath(stateDir: string): string {
  return inDir(stateDir, "hark.sock");
}
