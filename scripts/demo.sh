#!/bin/sh
# `make demo`: the main job on bundled sample data.
set -eu
BIN=.venv/bin
echo "== escudo events: bundled Sysmon for Linux sample, normalized to Endpoint.Processes =="
$BIN/escudo events samples/sysmon-linux-syslog.log --datamodel Endpoint.Processes --format table
echo
echo "== escudo hunt: every built-in detection over the same sample =="
$BIN/escudo hunt samples/sysmon-linux-syslog.log --format table
echo
echo "== escudo test: the seed detection on its bundled attack data (true positive + negative test) =="
$BIN/escudo test "Linux Ngrok Reverse Proxy Usage"
