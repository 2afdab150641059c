"""ruang.media.janus.protocol: request builders and the classification of Janus replies.

The JSON literals are shaped like what Janus 1.1.2 sends over its WebSocket transport.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ruang.media.janus import protocol as p

SID = 3917562846191233
HID = 6213974621836541
TX = "a3f2c1d4e5b60718"

OFFER_SDP = ("v=0\r\no=- 1716912345678 1 IN IP4 10.0.0.5\r\ns=Audio Bridge\r\nt=0 0\r\n"
             "a=group:BUNDLE 0\r\na=ice-options:trickle\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
             "c=IN IP4 10.0.0.5\r\na=sendrecv\r\na=mid:0\r\na=rtcp-mux\r\n"
             "a=rtpmap:111 opus/48000/2\r\n")

# --- recorded messages, as raw JSON text (parsed like the transport does) -------------------

CREATE_SUCCESS = """{"janus": "success", "transaction": "a3f2c1d4e5b60718",
                     "data": {"id": 3917562846191233}}"""
ATTACH_SUCCESS = """{"janus": "success", "session_id": 3917562846191233,
                     "transaction": "a3f2c1d4e5b60718", "data": {"id": 6213974621836541}}"""
AUDIOBRIDGE_CREATED = """{
   "janus": "success",
   "session_id": 3917562846191233,
   "transaction": "a3f2c1d4e5b60718",
   "sender": 6213974621836541,
   "plugindata": {
      "plugin": "janus.plugin.audiobridge",
      "data": {"audiobridge": "created", "room": 1234, "permanent": false}
   }
}"""
ACK = """{"janus": "ack", "session_id": 3917562846191233, "transaction": "a3f2c1d4e5b60718"}"""
JOINED_WITH_OFFER = json.dumps({
    "janus": "event", "session_id": SID, "transaction": TX, "sender": HID,
    "plugindata": {"plugin": "janus.plugin.audiobridge",
                   "data": {"audiobridge": "joined", "room": 1234, "id": 998877,
                            "participants": []}},
    "jsep": {"type": "offer", "sdp": OFFER_SDP},
})
UNSOLICITED_EVENT = """{"janus": "event", "session_id": 3917562846191233,
    "sender": 6213974621836541,
    "plugindata": {"plugin": "janus.plugin.audiobridge",
                   "data": {"audiobridge": "event", "room": 1234,
                            "participants": [{"id": 42, "display": "7", "setup": true,
                                              "muted": false, "talking": true}]}}}"""
SESSION_ERROR = """{"janus": "error", "session_id": 3917562846191233,
    "transaction": "a3f2c1d4e5b60718",
    "error": {"code": 458, "reason": "No such session 3917562846191233"}}"""
WEBRTCUP = """{"janus": "webrtcup", "session_id": 3917562846191233,
               "sender": 6213974621836541}"""
HANGUP = """{"janus": "hangup", "session_id": 3917562846191233, "sender": 6213974621836541,
             "reason": "DTLS alert"}"""
MEDIA = """{"janus": "media", "session_id": 3917562846191233, "sender": 6213974621836541,
            "mid": "0", "type": "audio", "receiving": true}"""
SLOWLINK = """{"janus": "slowlink", "session_id": 3917562846191233,
               "sender": 6213974621836541, "mid": "0", "media": "audio", "uplink": false,
               "lost": 12}"""
DETACHED = """{"janus": "detached", "session_id": 3917562846191233,
               "sender": 6213974621836541}"""
TRICKLE_FROM_JANUS = """{"janus": "trickle", "session_id": 3917562846191233,
    "sender": 6213974621836541,
    "candidate": {"sdpMid": "0", "sdpMLineIndex": 0,
                  "candidate": "candidate:1 1 udp 2015363327 10.0.0.5 20123 typ host"}}"""
TIMEOUT = """{"janus": "timeout", "session_id": 3917562846191233}"""
SERVER_INFO = """{"janus": "server_info", "transaction": "a3f2c1d4e5b60718",
    "name": "Janus WebRTC Server", "version": 1102, "version_string": "1.1.2",
    "author": "Meetecho s.r.l.", "session-timeout": 60, "api_secret": true,
    "plugins": {"janus.plugin.audiobridge": {"name": "JANUS AudioBridge plugin",
                                             "version": 12, "version_string": "0.0.12"}},
    "transports": {"janus.transport.websockets": {"name": "JANUS WebSockets transport"}}}"""


def parse_text(text: str) -> p.Incoming | None:
    return p.parse(json.loads(text))


# --- replies ----------------------------------------------------------------------------------


def test_create_success_carries_session_id() -> None:
    msg = parse_text(CREATE_SUCCESS)
    assert msg == p.Success(TX, {"id": SID})


def test_attach_success_carries_handle_id() -> None:
    msg = parse_text(ATTACH_SUCCESS)
    assert isinstance(msg, p.Success)
    assert msg.data["id"] == HID
    assert msg.plugin is None
    assert msg.plugindata is None


def test_sync_plugin_success_exposes_plugindata() -> None:
    msg = parse_text(AUDIOBRIDGE_CREATED)
    assert msg == p.Success(TX, {}, "janus.plugin.audiobridge",
                            {"audiobridge": "created", "room": 1234, "permanent": False})


def test_ack() -> None:
    assert parse_text(ACK) == p.Ack(TX)


def test_ack_without_transaction_is_ignored() -> None:
    assert p.parse({"janus": "ack", "session_id": SID}) is None


def test_event_answering_a_request_with_jsep_offer() -> None:
    msg = parse_text(JOINED_WITH_OFFER)
    assert isinstance(msg, p.Event)
    assert msg.transaction == TX
    assert msg.sender == HID
    assert msg.plugin == "janus.plugin.audiobridge"
    assert msg.data == {"audiobridge": "joined", "room": 1234, "id": 998877,
                        "participants": []}
    assert msg.jsep == {"type": "offer", "sdp": OFFER_SDP}


def test_unsolicited_event_has_no_transaction_and_no_jsep() -> None:
    msg = parse_text(UNSOLICITED_EVENT)
    assert isinstance(msg, p.Event)
    assert msg.transaction is None
    assert msg.jsep is None
    assert msg.data["participants"][0]["talking"] is True


def test_core_error() -> None:
    msg = parse_text(SESSION_ERROR)
    assert msg == p.Error(TX, p.SESSION_NOT_FOUND, "No such session 3917562846191233")


def test_error_without_transaction_or_details() -> None:
    assert p.parse({"janus": "error"}) == p.Error(None, 0, "unknown error")


@pytest.mark.parametrize(("text", "kind"), [
    (WEBRTCUP, "webrtcup"), (HANGUP, "hangup"), (MEDIA, "media"), (SLOWLINK, "slowlink"),
    (DETACHED, "detached"), (TRICKLE_FROM_JANUS, "trickle"),
])
def test_handle_notices(text: str, kind: str) -> None:
    raw = json.loads(text)
    msg = p.parse(raw)
    assert isinstance(msg, p.HandleNotice)
    assert msg.kind == kind
    assert msg.sender == HID
    assert msg.body == raw  # the whole message, e.g. hangup's reason, media's receiving


def test_hangup_notice_keeps_reason() -> None:
    msg = parse_text(HANGUP)
    assert isinstance(msg, p.HandleNotice)
    assert msg.body["reason"] == "DTLS alert"


def test_session_timeout() -> None:
    assert parse_text(TIMEOUT) == p.SessionTimeout(SID)


def test_session_timeout_without_id() -> None:
    assert p.parse({"janus": "timeout"}) == p.SessionTimeout(0)


@pytest.mark.parametrize("raw", [
    json.loads(SERVER_INFO),
    {"janus": "keepalive", "session_id": SID, "transaction": TX},
])
def test_messages_deliberately_ignored(raw: dict[str, Any]) -> None:
    assert p.parse(raw) is None


def test_parse_does_not_mutate_input() -> None:
    raw = json.loads(JOINED_WITH_OFFER)
    before = json.dumps(raw, sort_keys=True)
    p.parse(raw)
    assert json.dumps(raw, sort_keys=True) == before


# --- malformed input --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [
    "not json at all",
    b"\x00\x01",
    ["janus", "ack"],
    42,
    None,
], ids=["text", "bytes", "list", "int", "none"])
def test_non_objects_are_protocol_errors(raw: object) -> None:
    with pytest.raises(p.JanusProtocolError, match="expected a JSON object"):
        p.parse(raw)


@pytest.mark.parametrize("raw", [
    {"janus": "ack", "transaction": 12345},
    {"janus": "success"},
    {"janus": "success", "transaction": TX, "plugindata": "x"},
    {"janus": "success", "transaction": TX, "plugindata": {"plugin": "janus.plugin.audiobridge"}},
    {"janus": "success", "transaction": TX,
     "plugindata": {"plugin": "janus.plugin.audiobridge", "data": [1, 2]}},
    {"janus": "success", "transaction": TX, "data": [1]},
    {"janus": "error", "transaction": TX, "error": "boom"},
    {"janus": "error", "transaction": TX, "error": {"code": "not a number", "reason": "x"}},
    {"janus": "error", "transaction": TX, "error": {"code": None, "reason": "x"}},
    {"janus": "event", "plugindata": {"plugin": "p", "data": {}}},
    {"janus": "event", "sender": "6213974621836541", "plugindata": {"plugin": "p", "data": {}}},
    {"janus": "event", "sender": HID},
    {"janus": "event", "sender": HID, "plugindata": {"plugin": "p"}},
    {"janus": "event", "sender": HID, "plugindata": {"plugin": "p", "data": {}},
     "jsep": "v=0"},
    {"janus": "webrtcup", "session_id": SID},
    {"janus": "hangup", "sender": None},
    {"janus": "no-such-kind", "transaction": TX},
    {"transaction": TX},
], ids=[
    "ack-int-transaction", "success-without-transaction", "plugindata-not-object",
    "plugindata-without-data", "plugindata-data-not-object", "success-data-not-object",
    "error-not-object", "error-code-not-number", "error-code-null", "event-without-sender",
    "event-sender-string", "event-without-plugindata", "event-without-data",
    "event-jsep-not-object", "notice-without-sender", "notice-sender-null", "unknown-kind",
    "no-kind",
])
def test_malformed_messages_raise_protocol_error(raw: dict[str, Any]) -> None:
    with pytest.raises(p.JanusProtocolError):
        p.parse(raw)


# --- plugin errors ----------------------------------------------------------------------------


def test_plugin_error_from_error_code_and_message() -> None:
    err = p.plugin_error("janus.plugin.audiobridge",
                         {"audiobridge": "event", "error_code": 485,
                          "error": "No such room (1234)"})
    assert isinstance(err, p.JanusApiError)
    assert err.code == p.AUDIOBRIDGE_NO_SUCH_ROOM
    assert err.reason == "No such room (1234)"
    assert err.plugin == "janus.plugin.audiobridge"
    assert str(err) == "janus janus.plugin.audiobridge error 485: No such room (1234)"


def test_plugin_error_with_only_error_text() -> None:
    err = p.plugin_error("janus.plugin.streaming", {"streaming": "event", "error": "oops"})
    assert err is not None
    assert (err.code, err.reason) == (0, "oops")


def test_plugin_error_with_only_code() -> None:
    err = p.plugin_error("janus.plugin.streaming",
                         {"streaming": "event", "error_code": p.STREAMING_NO_SUCH_MOUNTPOINT})
    assert err is not None
    assert (err.code, err.reason) == (455, "plugin error")


def test_plugin_error_with_non_integer_code() -> None:
    err = p.plugin_error(None, {"error_code": "485", "error": "x"})
    assert err is not None
    assert err.code == 0
    assert str(err) == "janus error 0: x"


@pytest.mark.parametrize("data", [
    {"audiobridge": "created", "room": 1234, "permanent": False},
    {"audiobridge": "joined", "room": 1234, "id": 5, "participants": []},
    {"streaming": "event", "result": {"status": "starting"}},
    {},
])
def test_no_plugin_error_in_normal_replies(data: dict[str, Any]) -> None:
    assert p.plugin_error("janus.plugin.audiobridge", data) is None


def test_api_error_message_without_plugin() -> None:
    err = p.JanusApiError(459, "No such handle")
    assert str(err) == "janus error 459: No such handle"
    assert err.plugin is None
    assert isinstance(err, p.JanusError)


def test_error_tree() -> None:
    for cls in (p.JanusTransportError, p.JanusTimeout, p.JanusProtocolError, p.JanusApiError):
        assert issubclass(cls, p.JanusError)


# --- requests ---------------------------------------------------------------------------------


def test_new_transaction_is_unique_hex() -> None:
    txs = {p.new_transaction() for _ in range(200)}
    assert len(txs) == 200
    for tx in txs:
        assert len(tx) == 16
        int(tx, 16)


def test_create_session_request() -> None:
    assert p.create_session(TX) == {"janus": "create", "transaction": TX}


def test_attach_request() -> None:
    assert p.attach(TX, SID, "janus.plugin.audiobridge") == {
        "janus": "attach", "transaction": TX, "session_id": SID,
        "plugin": "janus.plugin.audiobridge"}


def test_keepalive_destroy_detach_hangup_requests() -> None:
    assert p.keepalive(TX, SID) == {"janus": "keepalive", "transaction": TX, "session_id": SID}
    assert p.destroy_session(TX, SID) == {"janus": "destroy", "transaction": TX,
                                          "session_id": SID}
    assert p.detach(TX, SID, HID) == {"janus": "detach", "transaction": TX, "session_id": SID,
                                      "handle_id": HID}
    assert p.hangup(TX, SID, HID) == {"janus": "hangup", "transaction": TX, "session_id": SID,
                                      "handle_id": HID}


def test_message_request_with_and_without_jsep() -> None:
    body = {"request": "configure", "muted": True}
    assert p.message(TX, SID, HID, body) == {
        "janus": "message", "transaction": TX, "session_id": SID, "handle_id": HID,
        "body": body}
    answer = {"type": "answer", "sdp": "v=0\r\n"}
    msg = p.message(TX, SID, HID, body, answer)
    assert msg["jsep"] == answer
    assert "jsep" not in p.message(TX, SID, HID, body, None)


def test_trickle_candidate() -> None:
    cand = {"sdpMid": "0", "sdpMLineIndex": 0,
            "candidate": "candidate:1 1 udp 2015363327 10.0.0.9 40000 typ host"}
    assert p.trickle(TX, SID, HID, cand) == {
        "janus": "trickle", "transaction": TX, "session_id": SID, "handle_id": HID,
        "candidate": cand}


def test_trickle_completed() -> None:
    assert p.trickle(TX, SID, HID, None)["candidate"] == {"completed": True}


def test_with_secret_adds_apisecret() -> None:
    msg = p.with_secret(p.keepalive(TX, SID), "s3cr3t")
    assert msg["apisecret"] == "s3cr3t"


@pytest.mark.parametrize("secret", [None, ""])
def test_with_secret_leaves_message_alone_without_secret(secret: str | None) -> None:
    msg = p.with_secret(p.keepalive(TX, SID), secret)
    assert "apisecret" not in msg


def test_requests_are_json_serialisable() -> None:
    for msg in (p.create_session(TX), p.attach(TX, SID, "x"), p.trickle(TX, SID, HID, None),
                p.message(TX, SID, HID, {"request": "join", "room": 1})):
        assert json.loads(json.dumps(msg)) == msg
