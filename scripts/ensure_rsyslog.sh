#!/bin/sh
# The real syslog daemon and journal tools the watch inputs' tests run against: rsyslogd (forwards
# to escudo's syslog receiver) and systemd-journal-remote (writes the journal files journalctl
# reads). Installed from Debian's packages when missing. Used by `make test`; a no-op when present.
set -eu
missing=""
command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ] || missing=" rsyslog"
[ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] \
    || missing="$missing systemd-journal-remote"
if [ -z "$missing" ]; then
    exit 0
fi
echo "ensure_rsyslog: installing:$missing" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
