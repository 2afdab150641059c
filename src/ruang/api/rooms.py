"""REST endpoints for rooms and the stage, and the health check.

Each handler validates input with its schema, calls one action, and shapes the answer; the
rules and the writes live in actions/.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import Field

from ruang import __version__, ics
from ruang.actions import chat, hallway, social, stage
from ruang.actions import members as member_actions
from ruang.actions import rooms as room_actions
from ruang.api.deps import CurrentMember, RuntimeDep, ServicesDep
from ruang.api.schemas import MAX_ID, DbId, MemberTarget, PathId, Schema
from ruang.api.ws.protocol import PROTOCOL_VERSION, SUBPROTOCOL
from ruang.domain.rooms import ChatMode, RoomKind
from ruang.events.models import RoomView

router = APIRouter(prefix="/api/v1")
health_router = APIRouter()


class RoomCreate(Schema):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""
    kind: RoomKind = RoomKind.OPEN
    topics: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=10)] = []
    cohosts: Annotated[list[Annotated[str, Field(max_length=33)]], Field(max_length=20)] = []
    invitees: Annotated[list[Annotated[str, Field(max_length=33)]],
                        Field(max_length=1000)] = []
    scheduled_for: dt.datetime | None = Field(
        None, description="ISO 8601 with a timezone; unset starts the room now")


class HandsIn(Schema):
    enabled: bool


class ChatModeIn(Schema):
    mode: ChatMode


class ReadIn(Schema):
    ids: Annotated[list[DbId], Field(max_length=500)] | None = None


class StageAction(StrEnum):
    INVITE = "invite"
    MOVE_TO_AUDIENCE = "move-to-audience"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    MAKE_MODERATOR = "make-moderator"
    LOWER_HAND = "lower-hand"


def _no_content() -> Response:
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- the hallway and notifications ---------------------------------------------------------


@router.get("/hallway", response_model=hallway.Hallway, tags=["rooms"],
            summary="Live and upcoming rooms, ranked for you")
async def get_hallway(svc: ServicesDep, member: CurrentMember) -> hallway.Hallway:
    return await hallway.hallway(svc, member)


@router.get("/rooms", response_model=hallway.Hallway, tags=["rooms"],
            summary="The rooms you can see (the same as /hallway)")
async def list_rooms(svc: ServicesDep, member: CurrentMember) -> hallway.Hallway:
    return await hallway.hallway(svc, member)


@router.get("/notifications", response_model=list[hallway.NotificationView],
            tags=["rooms"])
async def notifications(svc: ServicesDep, member: CurrentMember, unread: bool = False,
                        limit: Annotated[int, Query(ge=1, le=200)] = 50,
                        ) -> list[hallway.NotificationView]:
    return await hallway.notifications(svc, member, unread_only=unread, limit=limit)


@router.post("/notifications/read", tags=["rooms"], summary="Mark some (or all) as read")
async def read_notifications(body: ReadIn, svc: ServicesDep,
                             member: CurrentMember) -> dict[str, int]:
    return {"marked": await hallway.mark_read(svc, member, body.ids)}


# --- rooms ----------------------------------------------------------------------------------


@router.post("/rooms", response_model=RoomView, status_code=status.HTTP_201_CREATED,
             tags=["rooms"], summary="Start a room now, or schedule one")
async def create_room(body: RoomCreate, svc: ServicesDep, member: CurrentMember) -> RoomView:
    return await room_actions.create_room(
        svc, member, body.title, body.description, kind=body.kind, topics=body.topics,
        cohosts=body.cohosts, invitees=body.invitees, scheduled_for=body.scheduled_for)


@router.get("/rooms/{room_id}", response_model=room_actions.RoomDetail, tags=["rooms"])
async def get_room(room_id: PathId, svc: ServicesDep,
                   member: CurrentMember) -> room_actions.RoomDetail:
    return await room_actions.room_detail(svc, member, room_id)


@router.get("/rooms/{room_id}/audience", response_model=room_actions.AudiencePage,
            tags=["rooms"], summary="The listeners present, in the order they came")
async def audience(room_id: PathId, svc: ServicesDep, member: CurrentMember,
                   after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                   limit: Annotated[int, Query(ge=1, le=500)] = 100,
                   ) -> room_actions.AudiencePage:
    await room_actions.ensure_visible(svc, member, room_id)
    return await room_actions.audience(svc, room_id, after=after, limit=limit)


@router.get("/rooms/{room_id}/chat", response_model=chat.ChatPage, tags=["rooms"])
async def chat_history(room_id: PathId, svc: ServicesDep, member: CurrentMember,
                       before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> chat.ChatPage:
    await room_actions.ensure_visible(svc, member, room_id)
    return await chat.history(svc, room_id, before=before, limit=limit)


@router.delete("/rooms/{room_id}/chat/{message_id}", status_code=status.HTTP_204_NO_CONTENT,
               tags=["rooms"])
async def delete_chat(room_id: PathId, message_id: PathId, svc: ServicesDep,
                      member: CurrentMember) -> Response:
    await chat.delete(svc, room_id, member, message_id)
    return _no_content()


@router.post("/rooms/{room_id}/chat-mode", status_code=status.HTTP_204_NO_CONTENT,
             tags=["rooms"], summary="Chat for everyone, for speakers only, or off")
async def chat_mode(room_id: PathId, body: ChatModeIn, svc: ServicesDep,
                    member: CurrentMember) -> Response:
    await chat.set_mode(svc, room_id, member, body.mode)
    return _no_content()


@router.post("/rooms/{room_id}/hands", status_code=status.HTTP_204_NO_CONTENT, tags=["stage"],
             summary="Turn raised hands on or off (off lowers every hand)")
async def hands(room_id: PathId, body: HandsIn, svc: ServicesDep,
                member: CurrentMember) -> Response:
    await stage.set_hands(svc, room_id, member, body.enabled)
    return _no_content()


@router.get("/rooms/{room_id}/following", response_model=list[social.MemberCard],
            tags=["rooms"], summary="The people you follow who are in this room now")
async def room_following(room_id: PathId, svc: ServicesDep,
                         member: CurrentMember) -> list[social.MemberCard]:
    await room_actions.ensure_visible(svc, member, room_id)
    return await social.followed_in_room(svc, member, room_id)


@router.post("/rooms/{room_id}/start", status_code=status.HTTP_204_NO_CONTENT, tags=["rooms"],
             summary="Start a scheduled room (its hosts)")
async def start_room(room_id: PathId, svc: ServicesDep, member: CurrentMember) -> Response:
    await room_actions.start_room(svc, room_id, member)
    return _no_content()


@router.post("/rooms/{room_id}/end", status_code=status.HTTP_204_NO_CONTENT, tags=["rooms"],
             summary="End a live room (moderators), or cancel a scheduled one (hosts)")
async def end_room(room_id: PathId, svc: ServicesDep, member: CurrentMember) -> Response:
    await room_actions.end_room(svc, room_id, member)
    return _no_content()


@router.get("/rooms/{room_id}/event", response_model=room_actions.EventPage, tags=["rooms"],
            summary="A scheduled room's event page")
async def event_page(room_id: PathId, svc: ServicesDep,
                     member: CurrentMember) -> room_actions.EventPage:
    return await room_actions.event_page(svc, member, room_id)


@router.get("/rooms/{room_id}/event.ics", tags=["rooms"], response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}})
async def event_ics(room_id: PathId, svc: ServicesDep, member: CurrentMember) -> Response:
    page = await room_actions.event_page(svc, member, room_id)
    room = page.room
    start = room.scheduled_for or room.started_at or room.created_at
    base = svc.settings.base_url
    text = ics.room_event(room_id=room.id, title=room.title, description=room.description,
                          start=start, url=f"{base}/rooms/{room.id}",
                          organizer=page.hosts[0].display_name if page.hosts else "Ruang",
                          domain=urlsplit(base).hostname or "ruang", created=room.created_at)
    return Response(text, media_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="ruang-room-{room.id}.ics"'})


@router.post("/rooms/{room_id}/rsvp", tags=["rooms"], summary="Notify me when it starts")
async def rsvp(room_id: PathId, svc: ServicesDep, member: CurrentMember) -> dict[str, int]:
    return {"rsvp_count": await room_actions.set_rsvp(svc, room_id, member, True)}


@router.delete("/rooms/{room_id}/rsvp", tags=["rooms"])
async def unrsvp(room_id: PathId, svc: ServicesDep, member: CurrentMember) -> dict[str, int]:
    return {"rsvp_count": await room_actions.set_rsvp(svc, room_id, member, False)}


@router.post("/rooms/{room_id}/stage/{action}", status_code=status.HTTP_204_NO_CONTENT,
             tags=["stage"], summary="Moderate: invite a listener to speak, move a speaker "
             "to the audience, mute or unmute, remove from the room, make a moderator, lower "
             "a hand")
async def stage_action(room_id: PathId, action: StageAction, body: MemberTarget,
                       svc: ServicesDep, member: CurrentMember) -> Response:
    target = (await member_actions.find_member(svc, body.member)).id
    if action is StageAction.INVITE:
        await stage.invite_to_speak(svc, room_id, member, target)
    elif action is StageAction.MOVE_TO_AUDIENCE:
        await stage.move_to_audience(svc, room_id, member, target)
    elif action is StageAction.REMOVE:
        await stage.remove_member(svc, room_id, member, target)
    elif action is StageAction.MAKE_MODERATOR:
        await stage.make_moderator(svc, room_id, member, target)
    elif action is StageAction.LOWER_HAND:
        await stage.lower_hand(svc, room_id, member, target)
    else:
        await stage.set_mod_muted(svc, room_id, member, target, action is StageAction.MUTE)
    return _no_content()


# --- health ---------------------------------------------------------------------------------


@health_router.get("/healthz", tags=["health"])
async def healthz(runtime: RuntimeDep) -> JSONResponse:
    report = await runtime.health()
    code = 200 if report["status"] != "down" else 503
    return JSONResponse(report, status_code=code)


@health_router.get("/api/v1/realtime", tags=["health"],
                   summary="Where to open the WebSocket (docs/protocol.md)")
async def realtime(runtime: RuntimeDep) -> dict[str, object]:
    return {"url": runtime.realtime.url, "protocol": PROTOCOL_VERSION,
            "subprotocol": SUBPROTOCOL}


@health_router.get("/", include_in_schema=False)
async def index() -> JSONResponse:
    return JSONResponse({"name": "ruang", "version": __version__,
                         "api": "/api/v1", "docs": "/docs", "health": "/healthz"})
