#!/bin/sh
# Java 17 or later for Spark (escudo[spark]); installs Debian's OpenJDK 17 runtime when java is
# missing or older. Used by `make test`; a no-op when a recent enough java is on the path.
set -eu
version=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1 || true)
if [ -n "${version:-}" ] && [ "$version" -ge 17 ]; then
    exit 0
fi
echo "ensure_java: Java ${version:-missing}; installing openjdk-17-jre-headless" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
java -version
