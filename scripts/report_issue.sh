#!/usr/bin/env bash
# Open one issue for a recurring check, or add to it while it is open:
#
#   scripts/report_issue.sh LABEL TITLE BODY_FILE
#
# The open issue carrying LABEL gets BODY_FILE as a new comment; without one, an issue with
# TITLE, LABEL and BODY_FILE as its text is opened. So a check that fails every week keeps one
# issue up to date instead of opening a new one each time. Needs gh and GH_TOKEN (issues: write).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 LABEL TITLE BODY_FILE" >&2; exit 2; }
label=$1 title=$2 body=$3
[ -s "$body" ] || { echo "error: $body is empty or missing: nothing to report" >&2; exit 2; }
gh label create "$label" --color D93F0B --description "Opened by a scheduled check" \
  >/dev/null 2>&1 || true
number=$(gh issue list --state open --label "$label" --limit 1 --json number --jq '.[0].number // empty')
if [ -n "$number" ]; then
  gh issue comment "$number" --body-file "$body"
  echo "Updated issue #$number ($label)."
else
  gh issue create --title "$title" --label "$label" --body-file "$body"
fi
