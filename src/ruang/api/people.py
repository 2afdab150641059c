"""REST endpoints for people: profiles, avatars, follows, blocks, search, reports, topics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import Field

from ruang.actions import moderation, social
from ruang.api.deps import CurrentMember, ServicesDep
from ruang.api.schemas import Schema
from ruang.errors import NotFound

router = APIRouter(prefix="/api/v1", tags=["people"])

Ref = Annotated[str, Field(max_length=64)]


class ProfileIn(Schema):
    display_name: Annotated[str, Field(max_length=200)] | None = None
    username: Annotated[str, Field(max_length=32)] | None = None
    headline: Annotated[str, Field(max_length=400)] | None = None
    bio: Annotated[str, Field(max_length=4000)] | None = None
    interests: Annotated[list[Annotated[str, Field(max_length=64)]],
                         Field(max_length=20)] | None = None


class ReportIn(Schema):
    member: Annotated[str, Field(max_length=64)] | None = None
    room_id: int | None = None
    reason: Annotated[str, Field(min_length=1, max_length=2000)]


@router.get("/topics", response_model=list[str], summary="The interests members can pick")
async def topics(svc: ServicesDep, member: CurrentMember) -> list[str]:
    return svc.settings.topic_list


@router.get("/members", response_model=list[social.MemberCard],
            summary="Search people by name, username or headline (word prefixes)")
async def search(svc: ServicesDep, member: CurrentMember,
                 q: Annotated[str, Query(min_length=1, max_length=100)],
                 limit: Annotated[int, Query(ge=1, le=50)] = 20) -> list[social.MemberCard]:
    return await social.search_people(svc, member, q, limit)


@router.patch("/me/profile", response_model=social.Profile)
async def update_profile(body: ProfileIn, svc: ServicesDep,
                         member: CurrentMember) -> social.Profile:
    return await social.update_profile(svc, member, social.ProfileChanges(
        **body.model_dump(exclude_unset=True)))


@router.put("/me/avatar", response_model=social.Profile,
            summary="Upload a picture (PNG, JPEG or WebP): it is checked, cropped square and "
            "stored without its metadata")
async def put_avatar(file: UploadFile, svc: ServicesDep, member: CurrentMember
                     ) -> social.Profile:
    return await social.set_avatar(svc, member, file.file)


@router.delete("/me/avatar", status_code=status.HTTP_204_NO_CONTENT)
async def delete_avatar(svc: ServicesDep, member: CurrentMember) -> Response:
    await social.remove_avatar(svc, member)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/avatars/{avatar_id}", response_class=FileResponse,
            responses={200: {"content": {"image/webp": {}}}})
async def avatar(avatar_id: Annotated[str, Field(max_length=80)], svc: ServicesDep,
                 member: CurrentMember) -> FileResponse:
    path = svc.avatars.path(avatar_id) if svc.avatars is not None else None
    if path is None:
        raise NotFound("not_found", "no such picture")
    # An avatar's id names its content: it never changes, so browsers may keep it.
    return FileResponse(path, media_type="image/webp",
                        headers={"Cache-Control": "private, max-age=31536000, immutable"})


@router.get("/me/blocks", response_model=list[social.MemberCard])
async def my_blocks(svc: ServicesDep, member: CurrentMember) -> list[social.MemberCard]:
    return await social.blocked_by_me(svc, member)


@router.get("/members/{ref}", response_model=social.Profile)
async def profile(ref: str, svc: ServicesDep, member: CurrentMember) -> social.Profile:
    return await social.profile(svc, member, ref)


@router.post("/members/{ref}/follow", status_code=status.HTTP_204_NO_CONTENT)
async def follow(ref: str, svc: ServicesDep, member: CurrentMember) -> Response:
    await social.follow(svc, member, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/members/{ref}/follow", status_code=status.HTTP_204_NO_CONTENT)
async def unfollow(ref: str, svc: ServicesDep, member: CurrentMember) -> Response:
    await social.unfollow(svc, member, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/members/{ref}/followers", response_model=social.Page)
async def followers(ref: str, svc: ServicesDep, member: CurrentMember,
                    cursor: Annotated[str | None, Query(max_length=200)] = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 50) -> social.Page:
    return await social.follow_list(svc, member, ref, "followers", cursor, limit)


@router.get("/members/{ref}/following", response_model=social.Page)
async def following(ref: str, svc: ServicesDep, member: CurrentMember,
                    cursor: Annotated[str | None, Query(max_length=200)] = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 50) -> social.Page:
    return await social.follow_list(svc, member, ref, "following", cursor, limit)


@router.post("/members/{ref}/block", status_code=status.HTTP_204_NO_CONTENT)
async def block(ref: str, svc: ServicesDep, member: CurrentMember) -> Response:
    await social.block(svc, member, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/members/{ref}/block", status_code=status.HTTP_204_NO_CONTENT)
async def unblock(ref: str, svc: ServicesDep, member: CurrentMember) -> Response:
    await social.unblock(svc, member, ref)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/reports", response_model=moderation.ReportView,
             status_code=status.HTTP_201_CREATED,
             summary="Report a member or a room to the administrators")
async def report(body: ReportIn, svc: ServicesDep,
                 member: CurrentMember) -> moderation.ReportView:
    return await moderation.report(svc, member, member=body.member, room_id=body.room_id,
                                   reason=body.reason)
