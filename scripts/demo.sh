#!/bin/sh
# `make demo`: the main job on bundled sample data (samples/sysmon-linux-syslog.log, three hosts, one ngrok
# intrusion among ordinary admin work) and the seed detection's bundled attack data.
set -eu
BIN=.venv/bin
SAMPLE=samples/sysmon-linux-syslog.log
SEED="Linux Ngrok Reverse Proxy Usage"
STORE=$(mktemp -d)/escudo.duckdb

echo "== escudo events: Sysmon for Linux normalized to Endpoint.Processes (a few CIM fields) =="
$BIN/escudo events "$SAMPLE" --datamodel Endpoint.Processes \
    -F _time,dest,user,parent_process_name,process_name,process --format table
echo
echo "== escudo hunt: every built-in detection over the same sample =="
$BIN/escudo hunt "$SAMPLE" --format table --store "$STORE"
echo
echo "== escudo hunt --emit findings: what the SOC acts on (risk adds up per entity) =="
$BIN/escudo hunt "$SAMPLE" --detection "$SEED" --emit findings --format jsonl --store "$STORE"
echo
echo "== escudo drilldown: the seed's drilldowns for its first result, from the store =="
$BIN/escudo drilldown "$SEED" --store "$STORE" --row 1 --format table
echo
echo "== escudo test: the seed detection on its bundled attack data (true positive + negative test) =="
$BIN/escudo test "$SEED"
