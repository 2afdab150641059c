"""REST endpoints for rooms and the stage, and the health check.

Each handler validates input with its schema, calls one action, and shapes the answer; the
rules and the writes live in actions/.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ruang import __version__
from ruang.actions import members as member_actions
from ruang.actions import rooms as room_actions
from ruang.actions import social
from ruang.api.deps import CurrentMember, RuntimeDep, ServicesDep
from ruang.api.schemas import MemberTarget, PathId, Schema
from ruang.api.ws.protocol import PROTOCOL_VERSION, SUBPROTOCOL
from ruang.domain import rooms as rules
from ruang.events.models import RoomSnapshot, RoomView

router = APIRouter(prefix="/api/v1")
health_router = APIRouter()


class RoomCreate(Schema):
    title: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] = ""


class RoomList(BaseModel):
    rooms: list[room_actions.RoomSummary]


class YouOut(BaseModel):
    in_room: bool
    role: str | None
    actions: list[str]


class RoomDetail(BaseModel):
    snapshot: RoomSnapshot
    you: YouOut


# --- rooms ----------------------------------------------------------------------------------


@router.get("/rooms", response_model=RoomList, tags=["rooms"])
async def list_rooms(svc: ServicesDep, member: CurrentMember) -> RoomList:
    return RoomList(rooms=await room_actions.list_live(svc))


@router.post("/rooms", response_model=RoomView, status_code=status.HTTP_201_CREATED,
             tags=["rooms"])
async def create_room(body: RoomCreate, svc: ServicesDep, member: CurrentMember) -> RoomView:
    return await room_actions.create_room(svc, member, body.title, body.description)


@router.get("/rooms/{room_id}/following", response_model=list[social.MemberCard],
            tags=["rooms"], summary="The people you follow who are in this room now")
async def room_following(room_id: PathId, svc: ServicesDep,
                         member: CurrentMember) -> list[social.MemberCard]:
    return await social.followed_in_room(svc, member, room_id)


@router.get("/rooms/{room_id}", response_model=RoomDetail, tags=["rooms"])
async def get_room(room_id: int, svc: ServicesDep, member: CurrentMember) -> RoomDetail:
    snap = await room_actions.snapshot(svc, room_id)
    mine = snap.member(member.id)
    seat = rules.Seat(mine.role, mine.self_muted, mine.mod_muted, mine.invited) \
        if mine else None
    return RoomDetail(snapshot=snap, you=YouOut(
        in_room=mine is not None, role=mine.role.value if mine else None,
        actions=[a.value for a in rules.allowed_actions(seat)]))


@router.post("/rooms/{room_id}/end", status_code=status.HTTP_204_NO_CONTENT, tags=["rooms"])
async def end_room(room_id: int, svc: ServicesDep, member: CurrentMember) -> Response:
    await room_actions.end_room(svc, room_id, member)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class StageAction(StrEnum):
    INVITE = "invite"
    MOVE_TO_AUDIENCE = "move-to-audience"
    MUTE = "mute"
    UNMUTE = "unmute"


@router.post("/rooms/{room_id}/stage/{action}", status_code=status.HTTP_204_NO_CONTENT,
             tags=["stage"], summary="Moderate the stage: invite a listener to speak, move a "
             "speaker to the audience, mute or unmute a speaker")
async def stage(room_id: int, action: StageAction, body: MemberTarget, svc: ServicesDep,
                member: CurrentMember) -> Response:
    target = (await member_actions.find_member(svc, body.member)).id
    if action is StageAction.INVITE:
        await room_actions.invite_to_speak(svc, room_id, member, target)
    elif action is StageAction.MOVE_TO_AUDIENCE:
        await room_actions.move_to_audience(svc, room_id, member, target)
    else:
        await room_actions.set_mod_muted(svc, room_id, member, target,
                                         action is StageAction.MUTE)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


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
