"""ruang.media.janus.client against FakeJanus: transactions, ack-then-event, unsolicited
events, errors, timeouts, connection loss, keepalive, detach and the API secret."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ruang.media.janus import protocol as p
from ruang.media.janus.client import JanusHandle, JanusSession
from tests.fakes.janus import (
    AUDIOBRIDGE,
    NO_REPLY,
    SAMPLE_OFFER,
    STREAMING,
    FakeJanus,
    PluginRequest,
    Raw,
    async_event,
    core_error,
    plugin_failure,
    sync,
)

ROOM = 1234


def created(req: PluginRequest) -> dict[str, Any]:
    return {"audiobridge": "created", "room": req.body["room"], "permanent": False}


def joined(req: PluginRequest) -> Any:
    return async_event({"audiobridge": "joined", "room": req.body["room"], "id": 77,
                        "participants": []}, SAMPLE_OFFER)


@pytest.fixture
def fake() -> FakeJanus:
    f = FakeJanus()
    f.handlers["create"] = created
    f.handlers["join"] = joined
    return f


@pytest.fixture
async def session(fake: FakeJanus) -> AsyncIterator[JanusSession]:
    s = await JanusSession.open(fake.connect, request_timeout=2.0, keepalive_interval=30.0)
    yield s
    await s.close()


@pytest.fixture
async def handle(session: JanusSession) -> JanusHandle:
    return await session.attach(AUDIOBRIDGE)


async def wait_until(cond: Any, timeout: float = 2.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():  # noqa: ASYNC110 - polling what the session's reader task did
            await asyncio.sleep(0.001)


# --- session and handles ----------------------------------------------------------------------


async def test_open_creates_a_session(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect)
    try:
        assert s.id == fake.session_id
        assert not s.closed
        assert fake.connects == 1
        assert [m["janus"] for m in fake.sent] == ["create"]
        assert "apisecret" not in fake.sent[0]
    finally:
        await s.close()


async def test_close_destroys_session_and_closes_transport(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect)
    sid = s.id
    await s.close()
    assert s.closed
    assert fake.closed
    destroy = fake.requests("destroy")
    assert len(destroy) == 1
    assert destroy[0]["session_id"] == sid
    assert sid not in fake.sessions
    assert await s.wait_closed() == "session closed"
    await s.close()  # idempotent: no second destroy
    assert len(fake.requests("destroy")) == 1


async def test_open_fails_when_connect_fails(fake: FakeJanus) -> None:
    fake.refuse_connect = "connection refused"
    with pytest.raises(p.JanusTransportError, match="connection refused"):
        await JanusSession.open(fake.connect)


async def test_open_raises_core_error_and_closes_transport(fake: FakeJanus) -> None:
    fake.fail_core("create", 490, "Unknown error")
    with pytest.raises(p.JanusApiError) as info:
        await JanusSession.open(fake.connect)
    assert info.value.code == 490
    assert fake.closed
    assert fake.requests("destroy") == []  # there is no session to destroy


async def test_open_rejects_create_without_id(fake: FakeJanus) -> None:
    fake.core_handlers["create"] = lambda msg: sync({"oops": True})
    with pytest.raises(p.JanusProtocolError, match="session id"):
        await JanusSession.open(fake.connect)
    assert fake.closed


async def test_attach_returns_handle(fake: FakeJanus, session: JanusSession) -> None:
    h1 = await session.attach(AUDIOBRIDGE)
    h2 = await session.attach(STREAMING)
    assert h1.id != h2.id
    assert fake.handles(AUDIOBRIDGE) == [h1.id]
    assert fake.handles(STREAMING) == [h2.id]
    assert (h1.plugin, h2.plugin) == (AUDIOBRIDGE, STREAMING)
    assert h1.session is session
    attach = fake.requests("attach")
    assert [m["plugin"] for m in attach] == [AUDIOBRIDGE, STREAMING]
    assert all(m["session_id"] == session.id for m in attach)


async def test_attach_unknown_plugin(session: JanusSession) -> None:
    with pytest.raises(p.JanusApiError) as info:
        await session.attach("janus.plugin.videoroom")
    assert info.value.code == 460
    assert info.value.plugin is None


async def test_attach_without_handle_id_is_protocol_error(fake: FakeJanus,
                                                          session: JanusSession) -> None:
    fake.core_handlers["attach"] = lambda msg: sync({})
    with pytest.raises(p.JanusProtocolError, match="handle id"):
        await session.attach(AUDIOBRIDGE)


# --- plugin requests --------------------------------------------------------------------------


async def test_sync_request_returns_plugin_data(fake: FakeJanus, handle: JanusHandle) -> None:
    data = await handle.request({"request": "create", "room": ROOM})
    assert data == {"audiobridge": "created", "room": ROOM, "permanent": False}
    msg = fake.requests("message", request="create")[0]
    assert msg["handle_id"] == handle.id
    assert msg["session_id"] == handle.session.id
    assert msg["body"] == {"request": "create", "room": ROOM}
    assert "jsep" not in msg


async def test_sync_message_has_no_jsep(handle: JanusHandle) -> None:
    data, jsep = await handle.message({"request": "create", "room": ROOM})
    assert data["audiobridge"] == "created"
    assert jsep is None


async def test_async_request_waits_past_ack_for_event(fake: FakeJanus,
                                                      handle: JanusHandle) -> None:
    seen: list[Any] = []
    handle.listener = seen.append
    data, jsep = await handle.message({"request": "join", "room": ROOM})
    assert data == {"audiobridge": "joined", "room": ROOM, "id": 77, "participants": []}
    assert jsep == SAMPLE_OFFER
    assert seen == []  # the answer to our request is not also an unsolicited event


async def test_async_event_arriving_later(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.handlers["join"] = lambda req: async_event({"audiobridge": "joined", "id": 1},
                                                    SAMPLE_OFFER, event_delay=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    data, jsep = await handle.message({"request": "join", "room": ROOM})
    assert loop.time() - started >= 0.04
    assert data["id"] == 1
    assert jsep == SAMPLE_OFFER


async def test_async_event_before_ack(fake: FakeJanus, handle: JanusHandle) -> None:
    def event_first(req: PluginRequest) -> Raw:
        event = fake.event_message(req.handle_id, {"audiobridge": "joined", "id": 2},
                                   jsep=SAMPLE_OFFER, transaction=req.transaction)
        ack = {"janus": "ack", "session_id": req.session_id, "transaction": req.transaction}
        return Raw([event, ack])

    fake.handlers["join"] = event_first
    data, jsep = await handle.message({"request": "join", "room": ROOM})
    assert data["id"] == 2
    assert jsep == SAMPLE_OFFER
    # the stray ack after the answer does no harm
    assert (await handle.request({"request": "create", "room": 5}))["room"] == 5


async def test_message_sends_jsep(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.handlers["configure"] = lambda req: async_event({"audiobridge": "event",
                                                          "result": "ok",
                                                          "got": req.jsep})
    answer = {"type": "answer", "sdp": "v=0\r\n"}
    data, jsep = await handle.message({"request": "configure"}, answer)
    assert data["got"] == answer
    assert jsep is None
    assert fake.requests("message", request="configure")[0]["jsep"] == answer


async def test_concurrent_requests_matched_by_transaction(fake: FakeJanus,
                                                          handle: JanusHandle) -> None:
    # the first request's replies come late, the second's at once: replies interleave
    fake.handlers["slow"] = lambda req: sync({"audiobridge": "slow", "n": req.body["n"]},
                                             delay=0.05)
    fake.handlers["fast"] = lambda req: async_event({"audiobridge": "fast",
                                                     "n": req.body["n"]})
    slow = asyncio.create_task(handle.request({"request": "slow", "n": 1}))
    await asyncio.sleep(0)
    fast = await handle.request({"request": "fast", "n": 2})
    assert not slow.done()
    assert fast == {"audiobridge": "fast", "n": 2}
    assert await slow == {"audiobridge": "slow", "n": 1}


async def test_requests_on_many_handles(fake: FakeJanus, session: JanusSession) -> None:
    handles = [await session.attach(AUDIOBRIDGE) for _ in range(5)]
    results = await asyncio.gather(*(h.request({"request": "create", "room": i})
                                     for i, h in enumerate(handles)))
    assert [r["room"] for r in results] == list(range(5))
    assert [m["handle_id"] for m in fake.requests("message")] == [h.id for h in handles]


# --- unsolicited messages ---------------------------------------------------------------------


async def test_unsolicited_event_goes_to_handle_listener(fake: FakeJanus,
                                                         session: JanusSession) -> None:
    seen: list[p.Event | p.HandleNotice] = []
    h = await session.attach(AUDIOBRIDGE, listener=seen.append)
    other: list[Any] = []
    await session.attach(AUDIOBRIDGE, listener=other.append)
    talking = {"audiobridge": "talking", "room": ROOM, "id": 77}
    fake.event(h.id, talking)
    fake.event(h.id, {"audiobridge": "event", "room": ROOM}, transaction="not-ours")
    await wait_until(lambda: len(seen) == 2)
    assert isinstance(seen[0], p.Event)
    assert seen[0].data == talking
    assert seen[0].sender == h.id
    assert seen[0].plugin == AUDIOBRIDGE
    assert isinstance(seen[1], p.Event)
    assert seen[1].transaction == "not-ours"
    assert other == []


async def test_notices_go_to_handle_listener(fake: FakeJanus, session: JanusSession) -> None:
    seen: list[p.Event | p.HandleNotice] = []
    h = await session.attach(AUDIOBRIDGE, listener=seen.append)
    fake.webrtcup(h.id)
    fake.notify(h.id, "media", mid="0", type="audio", receiving=True)
    fake.notify(h.id, "slowlink", mid="0", media="audio", uplink=False, lost=9)
    fake.hangup(h.id, "DTLS alert")
    fake.notify(h.id, "detached")
    await wait_until(lambda: len(seen) == 5)
    assert all(isinstance(m, p.HandleNotice) for m in seen)
    kinds = [m.kind for m in seen if isinstance(m, p.HandleNotice)]
    assert kinds == ["webrtcup", "media", "slowlink", "hangup", "detached"]
    hangup = seen[3]
    assert isinstance(hangup, p.HandleNotice)
    assert hangup.body["reason"] == "DTLS alert"
    assert hangup.sender == h.id


async def test_events_for_unknown_or_listenerless_handles_are_dropped(
        fake: FakeJanus, session: JanusSession) -> None:
    quiet = await session.attach(AUDIOBRIDGE)  # no listener
    fake.webrtcup(quiet.id)
    fake.event(999, {"audiobridge": "event"})
    fake.hangup(999)
    h = await session.attach(AUDIOBRIDGE)
    assert (await h.request({"request": "create", "room": 1}))["room"] == 1
    assert not session.closed


async def test_failing_listener_does_not_break_the_session(
        fake: FakeJanus, session: JanusSession, caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Any] = []

    def broken(msg: p.Event | p.HandleNotice) -> None:
        calls.append(msg)
        raise RuntimeError("listener bug")

    h = await session.attach(AUDIOBRIDGE, listener=broken)
    with caplog.at_level(logging.ERROR, logger="ruang.media.janus.client"):
        fake.webrtcup(h.id)
        fake.webrtcup(h.id)
        await wait_until(lambda: len(calls) == 2)
    assert "listener failed" in caplog.text
    assert (await h.request({"request": "create", "room": 3}))["room"] == 3
    assert not session.closed


# --- errors -----------------------------------------------------------------------------------


async def test_core_error_on_message(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.handlers["configure"] = lambda req: core_error(465, "JSEP error: invalid SDP")
    with pytest.raises(p.JanusApiError) as info:
        await handle.message({"request": "configure"}, {"type": "answer", "sdp": "junk"})
    assert info.value.code == 465
    assert info.value.reason == "JSEP error: invalid SDP"
    assert info.value.plugin is None


async def test_core_error_unknown_handle(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.forget_handle(handle.id)
    with pytest.raises(p.JanusApiError) as info:
        await handle.request({"request": "create", "room": 1})
    assert info.value.code == p.HANDLE_NOT_FOUND


async def test_sync_plugin_error(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.handlers["create"] = lambda req: plugin_failure(AUDIOBRIDGE, 486,
                                                         "Room 1234 already exists")
    with pytest.raises(p.JanusApiError) as info:
        await handle.request({"request": "create", "room": ROOM})
    assert info.value.code == p.AUDIOBRIDGE_ROOM_EXISTS
    assert info.value.reason == "Room 1234 already exists"
    assert info.value.plugin == AUDIOBRIDGE


async def test_async_plugin_error(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.handlers["join"] = lambda req: plugin_failure(AUDIOBRIDGE, 485, "No such room (1234)",
                                                       asynchronous=True)
    with pytest.raises(p.JanusApiError) as info:
        await handle.message({"request": "join", "room": ROOM})
    assert info.value.code == p.AUDIOBRIDGE_NO_SUCH_ROOM
    assert info.value.plugin == AUDIOBRIDGE


async def test_unknown_plugin_request_is_plugin_error(session: JanusSession) -> None:
    h = await session.attach(STREAMING)
    with pytest.raises(p.JanusApiError) as info:
        await h.request({"request": "no-such-request"})
    assert info.value.code == 452
    assert info.value.plugin == STREAMING


async def test_error_after_ack(fake: FakeJanus, handle: JanusHandle) -> None:
    def ack_then_error(req: PluginRequest) -> Raw:
        return Raw([{"janus": "ack", "session_id": req.session_id,
                     "transaction": req.transaction},
                    {"janus": "error", "session_id": req.session_id,
                     "transaction": req.transaction,
                     "error": {"code": 462, "reason": "Plugin message error"}}])

    fake.handlers["join"] = ack_then_error
    with pytest.raises(p.JanusApiError) as info:
        await handle.message({"request": "join", "room": ROOM})
    assert info.value.code == 462


async def test_error_without_pending_request_is_logged(
        fake: FakeJanus, session: JanusSession, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ruang.media.janus.client"):
        fake.push({"janus": "error", "error": {"code": 454, "reason": "Invalid JSON"}})
        h = await session.attach(AUDIOBRIDGE)
    assert "error without a pending request" in caplog.text
    assert h.id in fake.handles()


# --- timeouts ---------------------------------------------------------------------------------


async def test_request_timeout(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect, request_timeout=0.05)
    try:
        h = await s.attach(AUDIOBRIDGE)
        fake.handlers["join"] = lambda req: NO_REPLY
        with pytest.raises(p.JanusTimeout, match="join"):
            await h.message({"request": "join", "room": ROOM})
        assert s._pending == {}
        assert not s.closed  # a timeout is not a lost session
        assert (await h.request({"request": "create", "room": 9}))["room"] == 9
    finally:
        await s.close()


async def test_timeout_after_ack(fake: FakeJanus) -> None:
    """An ack alone does not satisfy an asynchronous request."""
    s = await JanusSession.open(fake.connect, request_timeout=0.05)
    try:
        h = await s.attach(AUDIOBRIDGE)
        fake.handlers["join"] = lambda req: async_event({"audiobridge": "joined"},
                                                        event_delay=5.0)
        with pytest.raises(p.JanusTimeout):
            await h.message({"request": "join", "room": ROOM})
    finally:
        await s.close()


async def test_per_call_timeout_overrides_default(fake: FakeJanus,
                                                  handle: JanusHandle) -> None:
    fake.handlers["create"] = lambda req: sync({"audiobridge": "created"}, delay=0.5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(p.JanusTimeout):
        await handle.request({"request": "create", "room": 1}, timeout=0.03)
    assert loop.time() - started < 0.4  # not the session's 2 s


async def test_delayed_reply_within_timeout(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.delay = 0.03
    assert (await handle.request({"request": "create", "room": 4}))["room"] == 4


async def test_core_request_timeout(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect, request_timeout=0.05)
    try:
        fake.core_handlers["attach"] = lambda msg: NO_REPLY
        with pytest.raises(p.JanusTimeout, match="attach"):
            await s.attach(AUDIOBRIDGE)
    finally:
        await s.close()


# --- connection loss and session timeout ------------------------------------------------------


async def test_connection_loss_fails_every_pending_request(fake: FakeJanus,
                                                           session: JanusSession) -> None:
    h1 = await session.attach(AUDIOBRIDGE)
    h2 = await session.attach(STREAMING)
    fake.handlers["join"] = lambda req: NO_REPLY
    fake.handlers["watch"] = lambda req: NO_REPLY
    pending = [asyncio.create_task(h1.message({"request": "join", "room": ROOM})),
               asyncio.create_task(h2.message({"request": "watch", "id": 1})),
               asyncio.create_task(session.attach(AUDIOBRIDGE))]
    fake.core_handlers["attach"] = lambda msg: NO_REPLY
    await fake.wait_sent("message", 2)
    await fake.wait_sent("attach", 3)
    fake.drop("connection reset by peer")
    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        assert isinstance(result, p.JanusTransportError), result
    reason = await asyncio.wait_for(session.wait_closed(), 1.0)
    assert reason is not None
    assert "connection reset by peer" in reason
    assert session.closed
    assert session._pending == {}


async def test_requests_after_loss_fail_at_once(fake: FakeJanus, session: JanusSession,
                                                handle: JanusHandle) -> None:
    fake.drop("gone")
    await asyncio.wait_for(session.wait_closed(), 1.0)
    sent_before = len(fake.sent)
    with pytest.raises(p.JanusTransportError, match="closed"):
        await handle.request({"request": "create", "room": 1})
    with pytest.raises(p.JanusTransportError):
        await session.attach(AUDIOBRIDGE)
    assert len(fake.sent) == sent_before


async def test_send_failure_closes_session(fake: FakeJanus, session: JanusSession,
                                           handle: JanusHandle) -> None:
    fake.closed = True  # sends fail, recv still blocks: the loss is found on send
    with pytest.raises(p.JanusTransportError):
        await handle.request({"request": "create", "room": 1})
    assert session.closed
    assert await session.wait_closed() is not None


async def test_close_fails_pending_requests(fake: FakeJanus, session: JanusSession,
                                            handle: JanusHandle) -> None:
    fake.handlers["join"] = lambda req: NO_REPLY
    task = asyncio.create_task(handle.message({"request": "join", "room": ROOM}))
    await fake.wait_sent("message")
    await session.close()
    with pytest.raises(p.JanusTransportError, match="session closed"):
        await task


async def test_session_timeout_closes_session(fake: FakeJanus, session: JanusSession,
                                              handle: JanusHandle) -> None:
    fake.handlers["join"] = lambda req: NO_REPLY
    task = asyncio.create_task(handle.message({"request": "join", "room": ROOM}))
    await fake.wait_sent("message")
    fake.expire_session()
    reason = await asyncio.wait_for(session.wait_closed(), 1.0)
    assert reason == "Janus timed the session out"
    with pytest.raises(p.JanusTransportError, match="timed the session out"):
        await task
    await session.close()
    assert fake.requests("destroy") == []  # Janus already forgot it
    assert fake.closed


# --- malformed messages -----------------------------------------------------------------------


async def test_malformed_messages_are_ignored(fake: FakeJanus, session: JanusSession,
                                              handle: JanusHandle,
                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ruang.media.janus.client"):
        fake.push("this is not JSON",
                  [1, 2, 3],
                  {"janus": "what-is-this"},
                  {"janus": "event", "plugindata": {"data": {}}},
                  {"janus": "success"},
                  {"janus": "error", "transaction": "x", "error": {"code": "NaN"}},
                  {"janus": "webrtcup"})
        data = await handle.request({"request": "create", "room": ROOM})
    assert data["room"] == ROOM
    assert not session.closed
    assert caplog.text.count("ignoring malformed message") == 7


async def test_malformed_reply_to_pending_request_then_good_one(fake: FakeJanus,
                                                                handle: JanusHandle) -> None:
    def bad_then_good(req: PluginRequest) -> Raw:
        tx = req.transaction
        return Raw([{"janus": "success", "transaction": tx, "plugindata": "garbage"},
                    {"janus": "success", "session_id": req.session_id, "transaction": tx,
                     "sender": req.handle_id,
                     "plugindata": {"plugin": AUDIOBRIDGE, "data": {"ok": True}}}])

    fake.handlers["create"] = bad_then_good
    assert await handle.request({"request": "create"}) == {"ok": True}


# --- keepalive --------------------------------------------------------------------------------


async def test_keepalive_sent_at_interval(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect, keepalive_interval=0.01)
    try:
        keepalives = await fake.wait_sent("keepalive", 3, timeout=1.0)
        assert all(k["session_id"] == s.id for k in keepalives)
        assert len({k["transaction"] for k in keepalives}) == len(keepalives)
        assert not s.closed  # their acks match no request and are harmless
    finally:
        await s.close()
    count = len(fake.requests("keepalive"))
    await asyncio.sleep(0.03)
    assert len(fake.requests("keepalive")) == count  # stopped with the session


async def test_no_keepalive_before_interval(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect, keepalive_interval=10.0)
    try:
        await asyncio.sleep(0.03)
        assert fake.requests("keepalive") == []
    finally:
        await s.close()


async def test_keepalive_send_failure_closes_session(fake: FakeJanus) -> None:
    s = await JanusSession.open(fake.connect, keepalive_interval=0.01)
    try:
        fake.closed = True  # the next send (the keepalive) fails
        reason = await asyncio.wait_for(s.wait_closed(), 1.0)
        assert reason is not None
        assert "send to Janus failed" in reason
    finally:
        await s.close()


# --- trickle, hangup, detach ------------------------------------------------------------------


async def test_trickle_candidate_is_acked(fake: FakeJanus, handle: JanusHandle) -> None:
    cand = {"sdpMid": "0", "sdpMLineIndex": 0,
            "candidate": "candidate:1 1 udp 2015363327 10.0.0.9 40000 typ host"}
    await asyncio.wait_for(handle.trickle(cand), 1.0)
    await asyncio.wait_for(handle.trickle(None), 1.0)
    sent = fake.requests("trickle")
    assert [m["candidate"] for m in sent] == [cand, {"completed": True}]
    assert all(m["handle_id"] == handle.id for m in sent)
    assert handle.session._pending == {}


async def test_trickle_error(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.forget_handle(handle.id)
    with pytest.raises(p.JanusApiError) as info:
        await handle.trickle(None)
    assert info.value.code == p.HANDLE_NOT_FOUND


async def test_hangup(fake: FakeJanus, handle: JanusHandle) -> None:
    await handle.hangup()
    msg = fake.requests("hangup")[0]
    assert (msg["handle_id"], msg["session_id"]) == (handle.id, handle.session.id)


async def test_detach(fake: FakeJanus, session: JanusSession, handle: JanusHandle) -> None:
    await handle.detach()
    assert handle.detached
    assert handle.id not in fake.handles()
    assert fake.requests("detach")[0]["handle_id"] == handle.id
    assert handle.id not in session._handles
    await handle.detach()  # a second detach sends nothing
    assert len(fake.requests("detach")) == 1


async def test_detached_handle_gets_no_more_events(fake: FakeJanus,
                                                   session: JanusSession) -> None:
    seen: list[Any] = []
    h = await session.attach(AUDIOBRIDGE, listener=seen.append)
    hid = h.id
    await h.detach()
    fake.push({"janus": "hangup", "session_id": session.id, "sender": hid, "reason": "x"})
    await session.attach(AUDIOBRIDGE)  # a round trip after the hangup
    assert seen == []


async def test_detach_quiet_when_handle_gone(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.forget_handle(handle.id)
    await handle.detach()
    assert handle.detached
    assert len(fake.requests("detach")) == 1


async def test_detach_raises_other_errors(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.fail_core("detach", 463, "Plugin detach error")
    with pytest.raises(p.JanusApiError) as info:
        await handle.detach()
    assert info.value.code == 463
    assert handle.detached


async def test_detach_quiet_when_session_closed(fake: FakeJanus, handle: JanusHandle) -> None:
    fake.drop("gone")
    await asyncio.wait_for(handle.session.wait_closed(), 1.0)
    await handle.detach()
    assert handle.detached
    assert fake.requests("detach") == []


async def test_detach_quiet_when_connection_breaks_during_detach(
        fake: FakeJanus, handle: JanusHandle) -> None:
    def break_now(msg: dict[str, Any]) -> Any:
        fake.drop("reset during detach")
        return NO_REPLY

    fake.core_handlers["detach"] = break_now
    await handle.detach()
    assert handle.detached
    assert handle.session.closed


# --- API secret -------------------------------------------------------------------------------


async def test_apisecret_on_every_request() -> None:
    fake = FakeJanus(api_secret="s3cret")
    fake.handlers["create"] = created
    fake.handlers["join"] = joined
    s = await JanusSession.open(fake.connect, api_secret="s3cret", keepalive_interval=0.01)
    try:
        h = await s.attach(AUDIOBRIDGE)
        await h.request({"request": "create", "room": ROOM})
        await h.message({"request": "join", "room": ROOM})
        await asyncio.wait_for(h.trickle(None), 1.0)
        await h.hangup()
        await fake.wait_sent("keepalive", 1, timeout=1.0)
        await h.detach()
    finally:
        await s.close()
    kinds = {m["janus"] for m in fake.sent}
    assert kinds == {"create", "attach", "message", "trickle", "hangup", "keepalive",
                     "detach", "destroy"}
    assert all(m.get("apisecret") == "s3cret" for m in fake.sent)


async def test_no_apisecret_when_not_configured(fake: FakeJanus,
                                                handle: JanusHandle) -> None:
    await handle.request({"request": "create", "room": 1})
    await handle.detach()
    assert fake.sent
    assert all("apisecret" not in m for m in fake.sent)


async def test_wrong_apisecret_is_rejected() -> None:
    fake = FakeJanus(api_secret="right")
    with pytest.raises(p.JanusApiError) as info:
        await JanusSession.open(fake.connect, api_secret="wrong")
    assert info.value.code == 403
