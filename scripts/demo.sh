#!/bin/sh
# `make demo`: the main job on bundled sample data.
set -eu
BIN=.venv/bin
echo "== escudo events: bundled Sysmon for Linux sample, normalized to Endpoint.Processes =="
$BIN/escudo events samples/sysmon-linux-syslog.log --datamodel Endpoint.Processes --format table
