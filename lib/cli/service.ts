/** `hark service`: being written in this session. */

import type { Command } from "./command.ts";
import { HarkError } from "../errors.ts";

export const serviceCommand: Command = {
  name: "service",
  usage: "hark service",
  help: "Not available yet.",
  options: {},
  run() {
    throw new HarkError("hark service is not available yet");
  },
};
