#!/usr/bin/env bash
# Two authd processes must share one login budget per client IP (through one Redis) and, when
# LOCKOUT is set, one failed-login count per email/username (through one database): failures
# spread over both processes lock the account on both.
# Usage: BASE_A=http://127.0.0.1:3999 BASE_B=http://127.0.0.1:4000 LIMIT=6 LOCKOUT=2 bash test/live/shared-rate-limit.sh
# LIMIT = the servers' RATE_LIMIT_LOGIN; LOCKOUT = their LOCKOUT_THRESHOLD (0 or unset: no lockout
# check). With LOCKOUT, LIMIT must exceed LOCKOUT + 2 (the lockout check spends that much budget).
set -uo pipefail
BASE_A=${BASE_A:?} BASE_B=${BASE_B:?} LIMIT=${LIMIT:?} LOCKOUT=${LOCKOUT:-0}
passed=0 failed=0
check () { if [ "$2" = "$3" ]; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1: got $2, want $3"; failed=$((failed + 1)); fi; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Names unique to this run: the database outlives it, and earlier runs' failures must not count.
run="$(date +%s)-$RANDOM"

# Prints "<status> <code>" of a login (code "-" when the reply has none); headers go to $work/headers.
login () {
  local status code
  status=$(curl -s -o "$work/body" -D "$work/headers" -w '%{http_code}' -X POST "$1/v1/app/auth/login" \
    -H 'content-type: application/json' -d "{\"login\":\"$2\",\"password\":\"$3\"}")
  code=$(jq -r '.code // "-"' "$work/body" 2>/dev/null || echo '-')
  echo "$status $code"
}

spent=0
if [ "$LOCKOUT" -gt 0 ]; then
  victim="lockout-$run@example.com" password="correct horse battery staple"
  status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE_A/v1/app/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$victim\",\"password\":\"$password\"}")
  check "register the account to lock (process A)" "$status" 201
  for i in $(seq 1 "$LOCKOUT"); do
    if [ $((i % 2)) -eq 1 ]; then base=$BASE_A; name=A; else base=$BASE_B; name=B; fi
    if [ "$i" -lt "$LOCKOUT" ]; then want="401 invalid_credentials"; else want="429 account_locked"; fi
    check "failed login $i of $LOCKOUT (process $name)" "$(login "$base" "$victim" "wrong password $i")" "$want"
  done
  check "the right password on process A is refused: locked" "$(login "$BASE_A" "$victim" "$password")" "429 account_locked"
  if grep -qi '^retry-after: [0-9]' "$work/headers"; then check "account_locked carries Retry-After" yes yes; else check "account_locked carries Retry-After" no yes; fi
  check "the right password on process B is refused: locked" "$(login "$BASE_B" "$victim" "$password")" "429 account_locked"
  spent=$((LOCKOUT + 2))
fi

for i in $(seq $((spent + 1)) "$LIMIT"); do
  if [ $((i % 2)) -eq 1 ]; then base=$BASE_A; else base=$BASE_B; fi
  check "attempt $i of $LIMIT (alternating processes) is counted, not refused" "$(login "$base" "nobody-$run-$i@example.com" 'not the password')" "401 invalid_credentials"
done
check "attempt $((LIMIT + 1)) on process A is refused" "$(login "$BASE_A" "nobody-$run-a@example.com" 'not the password')" "429 rate_limited"
check "attempt $((LIMIT + 2)) on process B is refused too" "$(login "$BASE_B" "nobody-$run-b@example.com" 'not the password')" "429 rate_limited"
echo "shared-rate-limit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
