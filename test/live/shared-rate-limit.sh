#!/usr/bin/env bash
# Two authd processes sharing one Redis must share one login budget per client IP.
# Usage: BASE_A=http://127.0.0.1:3999 BASE_B=http://127.0.0.1:4000 LIMIT=3 bash test/live/shared-rate-limit.sh
set -uo pipefail
BASE_A=${BASE_A:?} BASE_B=${BASE_B:?} LIMIT=${LIMIT:?}
passed=0 failed=0
check () { if [ "$2" = "$3" ]; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1: got $2, want $3"; failed=$((failed + 1)); fi; }
login () { curl -s -o /dev/null -w '%{http_code}' -X POST "$1/v1/app/auth/login" -H 'content-type: application/json' \
  -d '{"login":"nobody@example.com","password":"not the password"}'; }
for i in $(seq 1 "$LIMIT"); do
  if [ $((i % 2)) -eq 1 ]; then base=$BASE_A; else base=$BASE_B; fi
  check "attempt $i of $LIMIT (alternating processes) is counted, not refused" "$(login "$base")" 401
done
check "attempt $((LIMIT + 1)) on process A is refused" "$(login "$BASE_A")" 429
check "attempt $((LIMIT + 2)) on process B is refused too" "$(login "$BASE_B")" 429
echo "shared-rate-limit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
