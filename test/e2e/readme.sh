# Sourced by test/e2e/scenario.sh: the README's install commands, read from README.md itself so that the e2e runs
# exactly what a reader is told to run (test/demo/e2e-script.test.ts checks the blocks and this extraction).
# readme_block NAME: the commands of every ```sh block that follows a line `<!-- e2e:NAME -->` in README.md, in
# order, one a line; comment-only and empty lines left out (a trailing `# comment` stays: the shell drops it).
# shellcheck shell=bash

readme_block() {
  awk -v want="<!-- e2e:$1 -->" '
    $0 == want { armed = 1; next }
    armed && /^```sh[[:space:]]*$/ { inside = 1; armed = 0; next }
    inside && /^```[[:space:]]*$/ { inside = 0; next }
    inside && !/^[[:space:]]*(#|$)/ { print }
    !inside && armed && !/^[[:space:]]*$/ { armed = 0 }
  ' "$ROOT/README.md"
}

# run_readme_block NAME DIR: runs the block's commands one by one in DIR with bash -e, each printed first.
run_readme_block() {
  local cmds line
  cmds=$(readme_block "$1")
  [[ -n $cmds ]] || fail "README.md has no <!-- e2e:$1 --> block"
  while IFS= read -r line; do
    printf '    $ %s\n' "$line"
    if ! (cd "$2" && bash -euo pipefail -c "$line") 2>&1 | indent; then
      fail "the README's command failed: $line"
    fi
  done <<<"$cmds"
}
