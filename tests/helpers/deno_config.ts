/** deno.json as tests read it: each task as its command line. */

const ROOT = new URL("../../", import.meta.url);

export interface DenoConfig {
  /** Each task's command line (a task with dependencies is an object holding it). */
  tasks: Record<string, string>;
  unstable?: string[];
}

export async function denoConfig(): Promise<DenoConfig> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const tasks: Record<string, string> = {};
  for (const [name, task] of Object.entries(config.tasks as Record<string, string | { command: string }>)) {
    tasks[name] = typeof task === "string" ? task : task.command;
  }
  return { ...config, tasks };
}
