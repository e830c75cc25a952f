#!/usr/bin/env bash
# npm run e2e: this checkout's daemon as dom0's xenstored on real Xen 4.17 under QEMU TCG
# (../shared/e2e, or $TSXENSTORED_E2E): two PV guests, then one PVH guest; every stage must be ok.
# Needs: qemu-system-x86 xen-hypervisor-4.17-amd64 xen-utils-4.17 xenstore-utils bc cpio perl.
set -euo pipefail
cd "$(dirname "$0")/.."
E2E=${TSXENSTORED_E2E:-$(cd .. && pwd)/shared/e2e}
if [ ! -x "$E2E/check-daemon.sh" ]; then
  echo "e2e: SKIPPED: no real-Xen harness at $E2E (set TSXENSTORED_E2E to its directory)"
  exit 0
fi
[ -f build/Release/tsxs_xen.node ] || { echo "e2e: the Xen addon is not built (npm ci)"; exit 1; }
npm run build --silent
W=${W:-/tmp/e2e-work}; export W
status=0
for args in "-n 2" "-t pvh -n 1"; do
  echo "e2e: check-daemon.sh . $args"
  # run.sh's watcher stops QEMU once the log says "done": a log left from the last run would stop this one.
  rm -f "$W/serial.log"
  # shellcheck disable=SC2086
  if ! "$E2E/check-daemon.sh" . $args -T 600 2>&1 | grep -a -E 'E2E-RESULT|anomalies|qemu exit'; then status=1; fi
  if grep -a -q 'E2E-RESULT .* FAIL' "$W/serial.log" || ! grep -a -q 'E2E-STAGE .* done' "$W/serial.log"; then
    echo "e2e: FAILED ($args); the daemon's trace is in $W/serial.log"
    status=1
  fi
done
[ $status -eq 0 ] && echo "e2e: every stage ok (2 PV guests, 1 PVH guest)"
exit $status
