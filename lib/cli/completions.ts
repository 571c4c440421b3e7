/** `hark completions`: being written in this session. */

import type { Command } from "./command.ts";
import { HarkError } from "../errors.ts";

export const completionsCommand: Command = {
  name: "completions",
  usage: "hark completions",
  help: "Not available yet.",
  options: {},
  run() {
    throw new HarkError("hark completions is not available yet");
  },
};
