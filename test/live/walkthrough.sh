#!/usr/bin/env bash
# The README's curl walk-through, command for command, against a running authd:
# register → login → me → refresh → logout, then the logged-out tokens are refused.
# Every README command appears here unchanged; the lines around them assert the HTTP status
# and the reply. Needs curl and jq.
#
#   BASE_URL=http://127.0.0.1:3000 bash test/live/walkthrough.sh
#
# Prints one line per check and ends with "walkthrough: N passed, M failed" (exit 1 on a failure).
# Each run registers a new address; the default register limit is 5 per minute per IP.
set -euo pipefail

passed=0
failed=0
finished=false

pass () { passed=$((passed + 1)); printf 'ok %d - %s\n' "$((passed + failed))" "$1"; }
fail () { failed=$((failed + 1)); printf 'not ok %d - %s\n' "$((passed + failed))" "$1"; }

# expect_status STEP EXPECTED ACTUAL [REPLY_FILE]
expect_status () {
  if [ "$3" = "$2" ]; then
    pass "$1: HTTP $3"
  else
    fail "$1: expected HTTP $2, got $3${4:+ $(head -c 300 "$4" 2>/dev/null)}"
  fi
}

# expect_jq STEP FILE [jq options...] FILTER — the filter must yield true.
expect_jq () {
  local step=$1 file=$2
  shift 2
  if jq -e "$@" "$file" >/dev/null 2>&1; then pass "$step"; else fail "$step ($(head -c 300 "$file" 2>/dev/null))"; fi
}

# expect_reply STEP EXPECTED ACTUAL FILE CHECK [jq options...] FILTER — a README command's
# answer: its HTTP status, then one check of its reply (reported as "STEP: CHECK").
expect_reply () {
  local step=$1 expected=$2 actual=$3 file=$4 check=$5
  shift 5
  expect_status "$step" "$expected" "$actual" "$file"
  expect_jq "$step: $check" "$file" "$@"
}

on_exit () {
  local status=$?
  if [ "$finished" != true ]; then
    echo "walkthrough aborted (exit $status)"
    failed=$((failed + 1))
    echo "walkthrough: $passed passed, $failed failed"
  fi
  if [ -n "$WORK_DIR" ]; then rm -rf "$WORK_DIR"; fi
}
WORK_DIR=
trap on_exit EXIT

# ---- the README's walk-through starts here ---------------------------------------------------

cd "$(mktemp -d)"
WORK_DIR=$PWD   # (script only: removed at exit)
BASE_URL=${BASE_URL:-http://127.0.0.1:3000}
EMAIL="ada-$(date +%s)-$RANDOM@example.com"
PASSWORD='correct horse battery staple'

# 0. The server is up
status=$(curl -sS -o health.json -w '%{http_code}\n' "$BASE_URL/healthz") || true
expect_status "healthz" 200 "$status" health.json

# 1. Register: 201 { user, tokens } (registering also logs in)
status=$(curl -sS -o register.json -w '%{http_code}\n' "$BASE_URL/v1/app/auth/register" \
  -H 'content-type: application/json' \
  -d "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}") || true
expect_reply "register" 201 "$status" register.json "user.email is $EMAIL, Bearer tokens" --arg email "$EMAIL" \
  '.user.email == $email and .tokens.tokenType == "Bearer" and (.tokens.access | length) > 0 and (.tokens.refresh | length) > 0'
expect_jq "register: no password hash in the reply" register.json '.user | has("passwordHash") | not'

# 2. Log in (login = email or username): 200 { user, tokens } — a new session
status=$(curl -sS -o login.json -w '%{http_code}\n' "$BASE_URL/v1/app/auth/login" \
  -H 'content-type: application/json' \
  -d "{\"login\":\"$EMAIL\",\"password\":\"$PASSWORD\"}") || true
expect_reply "login" 200 "$status" login.json "access and refresh tokens carried in shell variables" \
  '.tokens.tokenType == "Bearer" and .tokens.accessExpiresIn > 0 and .tokens.refreshExpiresIn > 0'
ACCESS=$(jq -r .tokens.access login.json)
REFRESH=$(jq -r .tokens.refresh login.json)

# 3. Who am I: 200 user
status=$(curl -sS -o me.json -w '%{http_code}\n' "$BASE_URL/v1/users/me" \
  -H "authorization: Bearer $ACCESS") || true
expect_reply "me" 200 "$status" me.json "the registered user" --arg email "$EMAIL" '.email == $email and .isActive == true'

# 4. Refresh: 200 { tokens } with a NEW refresh token (the old one is now blacklisted)
status=$(curl -sS -o refresh.json -w '%{http_code}\n' "$BASE_URL/v1/app/auth/refresh" \
  -H 'content-type: application/json' \
  -d "{\"refresh\":\"$REFRESH\"}") || true
expect_reply "refresh" 200 "$status" refresh.json "a new refresh token (rotation)" --arg old "$REFRESH" \
  '.tokens.refresh != $old and (.tokens.refresh | length) > 0 and (has("user") | not)'
ACCESS=$(jq -r .tokens.access refresh.json)
REFRESH=$(jq -r .tokens.refresh refresh.json)

# 5. Log out: 204, the whole session (every refresh token of it) is blacklisted
status=$(curl -sS -o logout.out -w '%{http_code}\n' "$BASE_URL/v1/app/auth/logout" \
  -H 'content-type: application/json' \
  -d "{\"refresh\":\"$REFRESH\"}") || true
expect_status "logout" 204 "$status" logout.out

# 6. After logout both tokens of that session are refused: 401 token_invalid
status=$(curl -sS -o refresh-after-logout.json -w '%{http_code}\n' "$BASE_URL/v1/app/auth/refresh" \
  -H 'content-type: application/json' \
  -d "{\"refresh\":\"$REFRESH\"}") || true
expect_reply "refresh after logout" 401 "$status" refresh-after-logout.json "code token_invalid" '.code == "token_invalid"'
status=$(curl -sS -o me-after-logout.json -w '%{http_code}\n' "$BASE_URL/v1/users/me" \
  -H "authorization: Bearer $ACCESS") || true
expect_reply "me after logout" 401 "$status" me-after-logout.json "code token_invalid" '.code == "token_invalid"'

# ---- end of the README's walk-through --------------------------------------------------------

finished=true
echo "walkthrough: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
