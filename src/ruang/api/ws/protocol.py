"""The Ruang WebSocket protocol, version 1: every message is one of these models.

Client messages are a discriminated union on ``type``; a client may add ``ref`` (its own
request id), which the server echoes in the ``ack`` or ``error`` it answers with. The full
description with examples is docs/protocol.md.

Lifecycle: connect to ``/api/v1/ws``, send ``hello`` (with a token unless the handshake
carried a session cookie or an ``Authorization: Bearer`` header), receive ``welcome``; then
join rooms. Room events arrive as ``room.event`` frames carrying the room's sequence number;
media negotiation is ``media.offer`` from the server and ``media.answer`` from the client.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ruang.events.models import RoomSnapshot

PROTOCOL_VERSION = 1
SUBPROTOCOL = "ruang.v1"

Ref = Annotated[str, Field(max_length=64)]
RoomIdField = Annotated[int, Field(ge=1, le=2**62)]
MediaIdField = Annotated[str, Field(min_length=1, max_length=64)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    ref: Ref | None = None


class Hello(_In):
    type: Literal["hello"]
    protocol: int
    token: Annotated[str, Field(max_length=200)] | None = None
    client: Annotated[str, Field(max_length=100)] | None = None


class JoinRoom(_In):
    type: Literal["room.join"]
    room_id: RoomIdField
    media: bool = True
    # Resume: the last sequence number this client applied. The server replays what came
    # after it, or sends a fresh snapshot when it cannot.
    since_seq: Annotated[int, Field(ge=0)] | None = None


class SyncRoom(_In):
    """Ask again for what followed ``since_seq`` (a client that detected a gap)."""

    type: Literal["room.sync"]
    room_id: RoomIdField
    since_seq: Annotated[int, Field(ge=0)]


class LeaveRoom(_In):
    type: Literal["room.leave"]
    room_id: RoomIdField


class MediaAnswer(_In):
    type: Literal["media.answer"]
    room_id: RoomIdField
    media_id: MediaIdField
    sdp: Annotated[str, Field(min_length=10, max_length=20000)]


class IceCandidate(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    candidate: Annotated[str, Field(max_length=1000)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None


class MediaCandidate(_In):
    type: Literal["media.candidate"]
    room_id: RoomIdField
    media_id: MediaIdField
    candidate: IceCandidate | None = None  # None: the client finished gathering


class MediaRestart(_In):
    type: Literal["media.restart"]
    room_id: RoomIdField


class SelfMute(_In):
    type: Literal["media.mute"]
    room_id: RoomIdField
    muted: bool


class StageAnswer(_In):
    type: Literal["stage.answer"]
    room_id: RoomIdField
    accept: bool


class LeaveStage(_In):
    """A speaker goes back to the audience by themselves."""

    type: Literal["stage.leave"]
    room_id: RoomIdField


class Hand(_In):
    type: Literal["hand"]
    room_id: RoomIdField
    raised: bool


class ChatSend(_In):
    type: Literal["chat.send"]
    room_id: RoomIdField
    text: Annotated[str, Field(min_length=1, max_length=2000)]


class ChatDelete(_In):
    type: Literal["chat.delete"]
    room_id: RoomIdField
    message_id: Annotated[int, Field(ge=1, le=2**62)]


class React(_In):
    type: Literal["react"]
    room_id: RoomIdField
    emoji: Annotated[str, Field(min_length=1, max_length=16)]


class HallwaySubscribe(_In):
    """Receive the hallway (live and upcoming rooms for you) now and whenever it changes."""

    type: Literal["hallway.subscribe"]
    subscribe: bool = True


class Ping(_In):
    type: Literal["ping"]


ClientMessage = Annotated[
    Hello | JoinRoom | SyncRoom | LeaveRoom | MediaAnswer | MediaCandidate | MediaRestart
    | SelfMute | StageAnswer | LeaveStage | Hand | ChatSend | ChatDelete | React
    | HallwaySubscribe | Ping,
    Field(discriminator="type"),
]
client_message: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class MemberRef(_Out):
    id: int
    username: str
    display_name: str


class Welcome(_Out):
    type: Literal["welcome"] = "welcome"
    protocol: int = PROTOCOL_VERSION
    member: MemberRef
    ref: str | None = None


class Snapshot(_Out):
    type: Literal["room.snapshot"] = "room.snapshot"
    snapshot: RoomSnapshot
    ref: str | None = None


class Left(_Out):
    type: Literal["room.left"] = "room.left"
    room_id: int
    reason: Literal["left", "replaced", "ended", "removed"]
    ref: str | None = None


class MediaOffer(_Out):
    type: Literal["media.offer"] = "media.offer"
    room_id: int
    media_id: str
    mode: Literal["listen", "speak"]
    sdp: str
    ice_servers: list[dict[str, Any]] = Field(default_factory=list)


class MediaState(_Out):
    type: Literal["media.state"] = "media.state"
    room_id: int
    media_id: str | None
    state: str
    error: dict[str, str] | None = None


class Speaking(_Out):
    """Who is talking right now (not sequenced: the latest one wins)."""

    type: Literal["room.speaking"] = "room.speaking"
    room_id: int
    speaking: list[int]


class HallwayUpdate(_Out):
    type: Literal["hallway"] = "hallway"
    live: list[Any]
    upcoming: list[Any]


class NotificationMessage(_Out):
    type: Literal["notification"] = "notification"
    notification: Any


class Ack(_Out):
    type: Literal["ack"] = "ack"
    ref: str | None = None


class ErrorMessage(_Out):
    type: Literal["error"] = "error"
    code: str
    message: str
    ref: str | None = None
    room_id: int | None = None


class Pong(_Out):
    type: Literal["pong"] = "pong"
    ref: str | None = None


ServerMessage = Annotated[
    Welcome | Snapshot | Left | MediaOffer | MediaState | Speaking | HallwayUpdate
    | NotificationMessage | Ack | ErrorMessage | Pong,
    Field(discriminator="type"),
]
