#!/usr/bin/env zsh
# Prints what zsh's completion system offers for a command line, one match
# per line: zsh_complete.zsh FPATH_DIR DUMP_FILE 'hark network '
#
# zsh completes only inside an interactive line editor, so this drives one in
# a pseudo-terminal (zpty), presses Tab after the given text, and has a
# stand-in for `compadd` print each match instead of showing it. After the
# technique of zsh-capture-completion (github.com/Valodim/zsh-capture-completion, MIT).

zmodload zsh/zpty || exit 1
local dir=$1 dump=$2 text=$3
zpty hark_completion zsh -f -i

local init=$(mktemp)
cat > $init <<EOF
PROMPT=
fpath=(${(q)dir} \$fpath)
autoload -U compinit
compinit -u -d ${(q)dump}
bindkey '^I' complete-word
# Marks the start and the end of the matches: a NUL line before and after.
null-line() { echo -E - \$'\\0' }
compprefuncs=(null-line)
comppostfuncs=(null-line exit)
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd() {
  # Calls that only fill arrays or test matches are not matches to show.
  if [[ \${@[1,(i)(-|--)]} == *-(O|A|D)\\ * ]]; then
    builtin compadd "\$@"
    return \$?
  fi
  local -a hits
  builtin compadd -A hits "\$@"
  local hit
  for hit in \$hits; do echo -E - "\$IPREFIX\$hit"; done
}
echo ready
EOF
zpty -w hark_completion "source ${(q)init}"
local line
repeat 10; do
  zpty -r hark_completion line
  [[ $line == ready* ]] && break
done
rm -f $init

zpty -w hark_completion "$text"$'\t'
integer marks=0
while zpty -r hark_completion line; do
  if [[ $line == *$'\0'* ]]; then
    (( marks++ ))
    (( marks == 2 )) && exit 0
    continue
  fi
  (( marks == 1 )) && print -r -- ${${line%$'\n'}%$'\r'}
done
exit 2
