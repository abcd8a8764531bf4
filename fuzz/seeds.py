#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-*, from the crate's
test vectors (ZOOM.md, tests/webhook.rs, tests/jwt.rs, the wire and typed
unit tests) plus hostile variants. Standard library only; deterministic.

    python3 fuzz/seeds.py     # from the repository root, or anywhere

The layouts (first byte a mode, newline-separated parts) are those of the
entry points in src/fuzz.rs.
"""

import base64
import hashlib
import hmac
import json
import os
import struct

SECRET = "fuzz-secret-Qx7Lm2"  # src/fuzz.rs SECRET
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

EVENTS = [
    # ZOOM.md section 4
    '{"event":"meeting.started","event_ts":1626230691572,"payload":{"account_id":"Wk9PTV9BQ0NPVU5UX0lE","object":{"id":"1234567890","uuid":"Wk9PTV9NRUVUSU5HX0lE","host_id":"Wk9PTV9VU0VSX0lE","topic":"My Meeting","type":8,"start_time":"2021-07-13T21:44:51Z","timezone":"America/Los_Angeles","duration":60}}}',
    # typed.rs tests
    '{"event":"meeting.ended","payload":{"object":{"id":85012345678}}}',
    '{"event":"meeting.participant_joined","payload":{"account_id":"A","object":{"id":"1","uuid":"u==","participant":{"user_id":"16778240","user_name":"Zo\u00eb","join_time":"2024-01-01T00:00:00Z"}}}}',
    '{"event":"recording.completed","download_token":"' + SECRET + '","payload":{"object":{"id":1,"recording_files":[{"id":"f","file_type":"MP4","file_size":123}]}}}',
    '{"event":"user.created","payload":null}',
    '{"event":"meeting.started","payload":{"object":{"id":[1]}}}',
    # tests/webhook.rs UNICODE_BODY (raw non-ASCII, surrogate pair escapes)
    r'{"event":"meeting.started","event_ts":1720705455858,"payload":{"account_id":"Wk9PTV9BQ0NPVU5UX0lE","object":{"id":"85012345678","topic":"Zo\u00eb \u4f1a\u8bae \ud83d\ude00","host_id":"Wk9PTV9VU0VSX0lE"}}}'.replace(r"\u00eb", "\u00eb").replace(r"\u4f1a\u8bae", "\u4f1a\u8bae"),
    # event.rs tests: liberal fields
    r'{"event":"a\u002eb","event_ts":"17"}',
    '{"payload":{},"event_ts":{"x":1},"event":"x"}',
    '{"event":"x","event_ts":1.5e3}',
    '{"event":"meeting.participant_left","event_ts":18446744073709551615,"payload":{"object":{"id":"' + SECRET + '"}}}',
]

FRAMES = [
    '{"module":"build_connection","success":true,"content":"ok"}',
    '{"module":"build_connection"}',
    '{"module":"build_connection","success":false,"content":"token is empty","header":{}}',
    '{"module":"build_connection","success":"false","content":"subscription not found"}',
    '{"module":"build_connection","success":false,"content":"token ' + SECRET + ' has expired\\r\\nX: y"}',
    '{"module":"heartbeat","success":true,"content":"live","header":{}}',
    '{"module":"message","content":"Invalid Token"}',
    '{"module":"heartbeat","success":false,"content":"TOKEN IS INVALID"}',
    '{"module":"message","content":{"event":"x","payload":{}},"success":true}',
    '{"module":"surprise","content":"x"}',
    '{"module":"message","content":"\\ud800"}',
    '{"module":"message","content":"{\\"no_event\\":1}"}',
    '"' + SECRET + "x" * 200 + '"',
    '{"module":"message","success":["' + SECRET + '"]}',
] + [json.dumps({"module": "message", "content": e}, ensure_ascii=False) for e in EVENTS[:4]]

# tests/webhook.rs: Zoom's vector (ZOOM.md section 5)
WH_SECRET_TS = "1720705455"
WH_BODY = '{"payload":{"plainToken":"xys8n8PGS7mAU0m5-YJjRA"},"event_ts":1720705455858,"event":"endpoint.url_validation"}'
WH_SIG = "v0=93a1a675965ceb9c5a50c5dfb31f20e50f763be37a54ef74cd2d16a1a8e5c0d6"


def wh_sig(ts, body):
    mac = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def challenge(token):
    return json.dumps({"payload": {"plainToken": token}, "event_ts": 1720705455858,
                       "event": "endpoint.url_validation"}, separators=(",", ":"))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def hs256(secret, header, payload):
    h, p = b64u(header.encode()), b64u(payload.encode())
    s = b64u(hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{s}"


def write(target, items):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    for i, data in enumerate(items):
        if isinstance(data, str):
            data = data.encode()
        with open(os.path.join(d, f"seed-{i:02}"), "wb") as f:
            f.write(data)


def main():
    write("wire_frame", FRAMES)
    write("event", EVENTS + ["", "null", "[]", "{}", '{"event":1}', '{"event":"x"', "Invalid Token"])

    ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nXY"
    write("upgrade_response", [
        b"\x01" + ok,
        b"\xff" + ok,
        b"\x07HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n",
        b"\x03HTTP/1.1 101 OK\r\nUpgrade: h2c\r\n\r\n",
        ("\x10HTTP/1.1 GET /ws?subscriptionId=fuzz-subscription&access_token=" + SECRET + " \x1b[2J\r\n\r\n").encode(),
        b"\x40HTTP/1.1 101",
        b"\x02" + b"HTTP/1.1 200 OK\r\nX: " + b"a" * 300 + b"\r\n\r\n",
        b"\x05\xff\xfe\r\n\r\n",
    ])

    now_ts = "1720705455"
    bodies = [
        WH_BODY.encode(),
        EVENTS[6].encode(),
        challenge("v0:" + now_ts + ":" + EVENTS[0]).encode(),
        challenge("Zm9vYg==").encode(),
        challenge("A" * 129).encode(),
        b'{"event":"endpoint.url_validation","payload":{"plainToken":5}}',
        b"[1,2,3]",
        b"\xff\xfe",
    ]
    webhook = [b"\x00" + WH_SECRET_TS.encode() + b"\n" + WH_SIG.encode() + b"\n" + WH_BODY.encode()]
    for body in bodies:
        webhook.append(b"\x01" + now_ts.encode() + b"\n\n" + body)
        webhook.append(b"\x00" + now_ts.encode() + b"\n" + wh_sig(now_ts, body).encode() + b"\n" + body)
    webhook += [b"\x00 1720705455 \nv0=zz\n{}", b"\x01-1\n\n{}", b"\x0199999999999999999999\n\n{}"]
    write("webhook", webhook)

    header = '{"alg":"HS256","typ":"JWT"}'
    payloads = [
        '{"iss":"zoom-api-key-123","iat":1720705425,"exp":1720709025}',
        '{"app_key":"k","tpc":"Zo\u00eb","role_type":1,"iat":1720705425,"exp":1720712625}',
        '{"exp":1720709025,"nbf":1720705555,"iat":1720705555}',
        '{"exp":18446744073709551615,"iat":-9223372036854775808}',
        '{"exp":1e300,"iat":-1e300,"nbf":"x"}',
        '{"exp":"1720705455"}',
        '{"iss":"x"}',
    ]
    jwt = []
    for i, p in enumerate(payloads):
        jwt.append(bytes([1 | (i << 1) % 64]) + (header + "\n" + p).encode())
    jwt.append(b"\x3f" + ('{"alg":"none"}\n' + payloads[0]).encode())
    jwt.append(b"\x01" + ('{"alg":"HS256","crit":["b64"]}\n' + payloads[0]).encode())
    # tests/jwt.rs API_VECTOR (another secret: a signature error) and a
    # token signed with the fuzz secret, passed as text.
    jwt.append(b"\x00eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJ6b29tLWFwaS1rZXktMTIzIiwiaWF0IjoxNzIwNzA1NDI1LCJleHAiOjE3MjA3MDkwMjV9.LpW2gUKH_ppTtQ_UXgmBLT0F3rT7n0T45p57RdXF-gE")
    jwt.append(b"\x00" + hs256(SECRET, header, payloads[0]).encode())
    jwt.append(b"\x00a.b")
    write("jwt", jwt)

    write("token_answer", [
        '{"access_token":"abc","token_type":"bearer","expires_in":3600,"scope":"a b  c","api_url":"https://api.zoom.us","extra":1}',
        '{"access_token":"' + SECRET + '","expires_in":"3599","scope":["a","b"],"api_url":"https://evil.example"}',
        '{"access_token":"x","api_url":"https://api.zoomgov.com/"}',
        '{"access_token":"x","api_url":"http://127.0.0.1:9"}',
        '{"access_token":"x","expires_in":-1}',
        '{"access_token":"x","expires_in":1e400}',
        '"' + SECRET + '"',
        '{"access_token":["' + SECRET + '"]}',
        '{"access_token":""}',
        "<html>502 Bad Gateway</html>",
        "",
    ])

    def status(code, body):
        return struct.pack(">H", code) + body.encode()

    write("rest_error", [
        status(404, '{"code":3001,"message":"Meeting does not exist: 123."}'),
        status(400, '{"code":300,"message":"Validation Failed.","errors":[{"field":"settings.x","message":"Invalid field."}]}'),
        status(401, '{"code":"124","message":"bad ' + SECRET + '"}'),
        status(502, "<html>Bad Gateway</html>\n"),
        status(500, ""),
        status(429, '{"code":429,"message":"' + "m" * 400 + '\\n' + SECRET + '"}'),
        status(400, '{"code":{"x":1},"message":[1],"errors":[{"field":"a\\u0000b"},{"message":"' + SECRET[:9] + '"},{}]}'),
        status(200, '{"meetings":[{"id":1}],"next_page_token":"p2","total_records":2}'),
    ])


if __name__ == "__main__":
    main()
