/** `hark completions bash|zsh|fish`: prints a completion script generated from the command registry. */

import type { Command } from "./command.ts";
import { print } from "./command.ts";
import { UsageError } from "../errors.ts";
import { type CompletionModel, describeCli } from "./completions_model.ts";
import { bashScript } from "./completions_bash.ts";
import { zshScript } from "./completions_zsh.ts";
import { fishScript } from "./completions_fish.ts";

const SCRIPTS: Record<string, (model: CompletionModel) => string> = {
  bash: bashScript,
  zsh: zshScript,
  fish: fishScript,
};

const SHELLS = Object.keys(SCRIPTS);

export const completionsCommand: Command = {
  name: "completions",
  usage: `hark completions ${SHELLS.join("|")}`,
  help: `Prints a completion script for the shell to stdout: commands, their options
and actions, log levels and priorities, files for --config and --log-file, and
directories for --state-dir. It is generated from this hark, so generate it
again after an upgrade. Install it for your user, then start a new shell:

  bash   hark completions bash > ~/.local/share/bash-completion/completions/hark
         (needs the bash-completion package; without it, add
         \`source <(hark completions bash)\` to ~/.bashrc instead)
  zsh    hark completions zsh > ~/.zfunc/_hark
         with \`fpath=(~/.zfunc $fpath)\` before \`compinit\` in ~/.zshrc; any
         directory on $fpath works, as long as the file is named _hark
  fish   hark completions fish > ~/.config/fish/completions/hark.fish

Examples:
  hark completions bash > ~/.local/share/bash-completion/completions/hark
  mkdir -p ~/.zfunc && hark completions zsh > ~/.zfunc/_hark
  hark completions fish > ~/.config/fish/completions/hark.fish
  source <(hark completions bash)     # this bash session only`,
  options: {},
  async run({ positionals }) {
    const [shell, ...rest] = positionals;
    const choices = SHELLS.join(", ");
    if (shell === undefined) throw new UsageError(`completions needs a shell: ${choices}`);
    if (!Object.hasOwn(SCRIPTS, shell)) {
      throw new UsageError(`cannot complete for shell "${shell}"; use ${choices}`);
    }
    if (rest.length > 0) throw new UsageError(`completions takes one shell, got ${positionals.length} arguments`);
    // The script ends in a newline of its own.
    print(SCRIPTS[shell](await describeCli()).replace(/\n$/, ""));
    return 0;
  },
};
