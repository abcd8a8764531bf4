#!/usr/bin/env node
// The Node alternative for the benchmark (bench/src/), written the way Zoom's
// WebSockets sample does it: fetch a token from the OAuth endpoint,
// `new WebSocket(url)` with the `ws` package, JSON.parse every message and
// then its `content`, and a `{"module":"heartbeat"}` every 30 s.
//
// Usage (bench/setup.sh installs `ws` into bench/node_modules):
//   node bench/node_client.js count N     count N events, report the rate
//   node bench/node_client.js latency N   report send-to-receive latency of N events
// Settings come from the environment: ZOOM_TOKEN_URL, ZOOM_WS_URL,
// ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_ACCOUNT_ID, ZOOM_SUBSCRIPTION_ID,
// and NODE_EXTRA_CA_CERTS for the emulator's TLS CA.
//
// Protocol with the bench (stdout, one line each): `READY` once Zoom's
// build_connection arrived, `COUNTED` when the last event has arrived, then
// `RESULT {json}`; the process then waits for stdin to close. Diagnostics go to stderr.
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, 'node_modules', 'ws'));

const [mode, nArg] = process.argv.slice(2);
const target = Number(nArg);
if (!['count', 'latency'].includes(mode) || !(target > 0)) {
  console.error('usage: node_client.js count|latency N');
  process.exit(2);
}
const env = (k) => {
  const v = process.env[k];
  if (!v) { console.error(`node_client: ${k} is not set`); process.exit(2); }
  return v;
};

// Wall-clock microseconds, comparable with the emulator's stamps.
const nowUs = () => (performance.timeOrigin + performance.now()) * 1000;

async function getToken() {
  const basic = Buffer.from(`${env('ZOOM_CLIENT_ID')}:${env('ZOOM_CLIENT_SECRET')}`).toString('base64');
  const res = await fetch(env('ZOOM_TOKEN_URL'), {
    method: 'POST',
    headers: {
      Authorization: `Basic ${basic}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: `grant_type=account_credentials&account_id=${encodeURIComponent(env('ZOOM_ACCOUNT_ID'))}`,
  });
  const body = await res.json();
  if (!res.ok) throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)];
}

async function main() {
  const token = await getToken();
  const url = `${env('ZOOM_WS_URL')}?subscriptionId=${encodeURIComponent(env('ZOOM_SUBSCRIPTION_ID'))}&access_token=${encodeURIComponent(token)}`;
  const ws = new WebSocket(url);
  let heartbeat = null;
  let count = 0;
  let t0 = 0n;
  let cpu0 = null;
  const latencies = [];

  const finish = () => {
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    // The bench measures this process from outside now.
    process.stdout.write('COUNTED\n');
    const result = { count, secs, cpu_secs: (cpu.user + cpu.system) / 1e6 };
    if (mode === 'latency') {
      latencies.sort((a, b) => a - b);
      result.p50_us = percentile(latencies, 50);
      result.p99_us = percentile(latencies, 99);
      result.max_us = latencies[latencies.length - 1];
    }
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
    clearInterval(heartbeat);
    ws.close(1000);
    // Stay until the bench has measured this process from outside: it
    // closes stdin.
    process.stdin.on('end', () => process.exit(0));
    process.stdin.on('error', () => process.exit(0));
    process.stdin.resume();
  };

  ws.on('open', () => {
    heartbeat = setInterval(() => ws.send(JSON.stringify({ module: 'heartbeat' })), 30000);
  });
  ws.on('message', (data) => {
    const msg = JSON.parse(data);
    if (msg.module === 'build_connection') {
      process.stdout.write('READY\n');
      return;
    }
    if (msg.module !== 'message') return;
    const event = typeof msg.content === 'string' ? JSON.parse(msg.content) : msg.content;
    if (count === 0) {
      t0 = process.hrtime.bigint();
      cpu0 = process.cpuUsage();
    }
    count += 1;
    if (mode === 'latency') {
      latencies.push(nowUs() - event.payload.object.participant.sent_us);
    } else if (event.event !== 'meeting.participant_joined') {
      throw new Error(`unexpected event ${event.event}`);
    }
    if (count === target) finish();
  });
  ws.on('error', (e) => { console.error(`node_client: ${e.message}`); process.exit(1); });
  ws.on('close', () => {
    if (count < target) { console.error(`node_client: closed after ${count} events`); process.exit(1); }
  });
}

main().catch((e) => { console.error(`node_client: ${e.message}`); process.exit(1); });
