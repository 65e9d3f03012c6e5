#!/usr/bin/env bash
# The published branch (gh-pages) for the workflows that publish into it, one folder each:
#
#   scripts/pages_branch.sh checkout FOLDER           check the branch out into FOLDER (a git
#                                                     worktree), or start it when it is missing
#   scripts/pages_branch.sh push FOLDER MESSAGE       commit what changed in FOLDER and push it
#
# What goes where inside the branch is scripts/publish_site.py's business. The workflows run
# one publication at a time (concurrency group gh-pages), so a push never races another.
# PAGES_BRANCH names another branch (the tests use a scratch repository).
set -euo pipefail
BRANCH=${PAGES_BRANCH:-gh-pages}
usage() { echo "usage: $0 checkout FOLDER | push FOLDER MESSAGE" >&2; exit 2; }
[ $# -ge 2 ] || usage
folder=$2
case "$1" in
  checkout)
    if [ -e "$folder" ]; then echo "error: $folder exists; name a new folder" >&2; exit 2; fi
    if git ls-remote --exit-code --heads origin "$BRANCH" >/dev/null; then
      git fetch --quiet --depth 1 origin "$BRANCH"
      git worktree add --quiet --detach "$folder" FETCH_HEAD
    else
      echo "The branch $BRANCH does not exist yet: starting it empty."
      git worktree add --quiet --detach "$folder"
      git -C "$folder" checkout --quiet --orphan "$BRANCH"
      git -C "$folder" rm -r -q --cached .
      find "$folder" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
    fi
    ;;
  push)
    [ $# -eq 3 ] || usage
    git -C "$folder" add --all
    if git -C "$folder" diff --cached --quiet; then
      echo "Nothing changed in $BRANCH."
      exit 0
    fi
    git -C "$folder" -c user.name="github-actions[bot]" \
      -c user.email="41898282+github-actions[bot]@users.noreply.github.com" \
      commit --quiet -m "$3"
    git -C "$folder" push --quiet origin "HEAD:refs/heads/$BRANCH"
    echo "Pushed to $BRANCH: $3"
    ;;
  *) usage ;;
esac
