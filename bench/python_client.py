"""The Python alternative for the benchmark (bench/src/), written the usual way with
`websocket-client`: fetch a token from the OAuth endpoint, a
`websocket.WebSocketApp` whose on_message does json.loads of the message and
then of its `content`, and a `{"module":"heartbeat"}` every 30 s.

Usage (bench/setup.sh makes the venv bench/.venv with websocket-client):
    bench/.venv/bin/python bench/python_client.py count N
    bench/.venv/bin/python bench/python_client.py latency N
Settings come from the environment: ZOOM_TOKEN_URL, ZOOM_WS_URL,
ZOOM_CLIENT_ID, ZOOM_CLIENT_SECRET, ZOOM_ACCOUNT_ID, ZOOM_SUBSCRIPTION_ID,
and ZOOM_CA_FILE for the emulator's TLS CA. PY_SKIP_UTF8=1 passes
skip_utf8_validation=True to run_forever: websocket-client validates the
UTF-8 of every text frame in pure Python unless wsaccel is installed, which
costs far more than the JSON parsing; the bench reports both.

Protocol with the bench (stdout, one line each): `READY` once Zoom's
build_connection arrived, `COUNTED` when the last event has arrived, then
`RESULT {json}`; the process then waits for stdin to close. Diagnostics go to stderr.
"""

import base64
import json
import os
import ssl
import sys
import threading
import time
import urllib.parse
import urllib.request

import websocket


def env(key):
    value = os.environ.get(key)
    if not value:
        sys.exit(f"python_client: {key} is not set")
    return value


def ssl_context():
    ca = os.environ.get("ZOOM_CA_FILE")
    return ssl.create_default_context(cafile=ca) if ca else None


def get_token():
    basic = base64.b64encode(
        f"{env('ZOOM_CLIENT_ID')}:{env('ZOOM_CLIENT_SECRET')}".encode()
    ).decode()
    body = urllib.parse.urlencode(
        {"grant_type": "account_credentials", "account_id": env("ZOOM_ACCOUNT_ID")}
    ).encode()
    req = urllib.request.Request(
        env("ZOOM_TOKEN_URL"),
        data=body,
        headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    with urllib.request.urlopen(req, timeout=10, context=ssl_context()) as res:
        return json.loads(res.read())["access_token"]


def percentile(sorted_values, p):
    if not sorted_values:
        return 0
    i = min(len(sorted_values) - 1, max(0, -(-p * len(sorted_values) // 100) - 1))
    return sorted_values[i]


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("count", "latency"):
        sys.exit("usage: python_client.py count|latency N")
    mode, target = sys.argv[1], int(sys.argv[2])
    token = get_token()
    query = urllib.parse.urlencode(
        {"subscriptionId": env("ZOOM_SUBSCRIPTION_ID"), "access_token": token}
    )
    url = f"{env('ZOOM_WS_URL')}?{query}"
    state = {"count": 0, "t0": 0.0, "cpu0": 0.0, "latencies": [], "result": None}

    def on_message(ws, message):
        msg = json.loads(message)
        module = msg.get("module")
        if module == "build_connection":
            print("READY", flush=True)
            return
        if module != "message":
            return
        content = msg["content"]
        event = json.loads(content) if isinstance(content, str) else content
        if state["count"] == 0:
            state["t0"] = time.perf_counter()
            state["cpu0"] = time.process_time()
        state["count"] += 1
        if mode == "latency":
            sent = event["payload"]["object"]["participant"]["sent_us"]
            state["latencies"].append(time.time_ns() / 1000 - sent)
        elif event["event"] != "meeting.participant_joined":
            raise ValueError(f"unexpected event {event['event']}")
        if state["count"] == target:
            result = {
                "count": state["count"],
                "secs": time.perf_counter() - state["t0"],
                "cpu_secs": time.process_time() - state["cpu0"],
            }
            # The bench measures this process from outside now.
            print("COUNTED", flush=True)
            if mode == "latency":
                lat = sorted(state["latencies"])
                result.update(
                    p50_us=percentile(lat, 50), p99_us=percentile(lat, 99), max_us=lat[-1]
                )
            state["result"] = result
            ws.close()

    def on_open(ws):
        def beat():
            while ws.keep_running:
                time.sleep(30)
                try:
                    ws.send(json.dumps({"module": "heartbeat"}))
                except Exception:
                    return

        threading.Thread(target=beat, daemon=True).start()

    def on_error(ws, error):
        print(f"python_client: {error}", file=sys.stderr)

    app = websocket.WebSocketApp(
        url, on_open=on_open, on_message=on_message, on_error=on_error
    )
    ca = os.environ.get("ZOOM_CA_FILE")
    app.run_forever(
        sslopt={"ca_certs": ca} if ca else None,
        skip_utf8_validation=os.environ.get("PY_SKIP_UTF8") == "1",
    )
    if state["result"] is None:
        sys.exit(f"python_client: closed after {state['count']} events")
    print("RESULT " + json.dumps(state["result"]), flush=True)
    # Stay until the bench has measured this process from outside: it
    # closes stdin.
    sys.stdin.read()


if __name__ == "__main__":
    main()
