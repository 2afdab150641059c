"""The SDK's REST client: log in, rooms, the stage. Errors come back as :class:`ApiError`
with the server's stable code (docs/errors.md)."""

from __future__ import annotations

from typing import Any

import httpx


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ConnectionFailed(ApiError):
    def __init__(self, server: str, reason: str) -> None:
        super().__init__(0, "connection_failed", f"cannot reach {server}: {reason}")


def _raise_for(resp: httpx.Response) -> None:
    if resp.status_code < 400:
        return
    try:
        err = resp.json().get("error", {})
        code, message = str(err.get("code", "unknown")), str(err.get("message", resp.text))
    except ValueError:
        code, message = "unknown", resp.text[:200]
    raise ApiError(resp.status_code, code, message)


class RuangClient:
    """``async with RuangClient(server, token=...)``, or ``await RuangClient.login(...)``."""

    def __init__(self, server: str, *, token: str | None = None, timeout: float = 15.0) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self._http = httpx.AsyncClient(base_url=self.server, timeout=timeout)
        self.member: dict[str, Any] | None = None
        self._ws_url: str | None = None

    @classmethod
    async def login(cls, server: str, username: str, password: str) -> RuangClient:
        client = cls(server)
        try:
            body = await client._request("POST", "/api/v1/auth/login",
                                         json={"username": username, "password": password})
        except BaseException:
            await client.close()
            raise
        client.token = body["token"]
        client.member = body["member"]
        return client

    async def __aenter__(self) -> RuangClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def ws_url(self) -> str:
        """The WebSocket URL, as the server announces it (asked once)."""
        if self._ws_url is None:
            info = await self._request("GET", "/api/v1/realtime")
            self._ws_url = str(info["url"])
        return self._ws_url

    async def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            resp = await self._http.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ConnectionFailed(self.server, str(exc) or type(exc).__name__) from exc
        _raise_for(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    async def me(self) -> dict[str, Any]:
        self.member = await self._request("GET", "/api/v1/me")
        return self.member

    async def logout(self) -> None:
        await self._request("POST", "/api/v1/auth/logout")

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", "/healthz")
        return result

    async def hallway(self) -> dict[str, Any]:
        """{"live": [...], "upcoming": [...]}: the rooms you can see, ranked for you."""
        result: dict[str, Any] = await self._request("GET", "/api/v1/hallway")
        return result

    async def list_rooms(self) -> list[dict[str, Any]]:
        """The live rooms of your hallway."""
        return list((await self.hallway())["live"])

    async def create_room(self, title: str, description: str = "", *, kind: str = "open",
                          topics: list[str] | None = None, cohosts: list[str] | None = None,
                          invitees: list[str] | None = None,
                          scheduled_for: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title, "description": description, "kind": kind,
                                "topics": topics or [], "cohosts": cohosts or [],
                                "invitees": invitees or []}
        if scheduled_for:
            body["scheduled_for"] = scheduled_for
        result: dict[str, Any] = await self._request("POST", "/api/v1/rooms", json=body)
        return result

    async def start_room(self, room_id: int) -> None:
        await self._request("POST", f"/api/v1/rooms/{room_id}/start")

    async def rsvp(self, room_id: int, going: bool = True) -> int:
        result = await self._request("POST" if going else "DELETE",
                                     f"/api/v1/rooms/{room_id}/rsvp")
        return int(result["rsvp_count"])

    async def set_hands(self, room_id: int, enabled: bool) -> None:
        await self._request("POST", f"/api/v1/rooms/{room_id}/hands",
                            json={"enabled": enabled})

    async def set_chat_mode(self, room_id: int, mode: str) -> None:
        await self._request("POST", f"/api/v1/rooms/{room_id}/chat-mode", json={"mode": mode})

    async def chat_history(self, room_id: int, before: int | None = None) -> dict[str, Any]:
        params = {"before": before} if before else {}
        result: dict[str, Any] = await self._request("GET", f"/api/v1/rooms/{room_id}/chat",
                                                     params=params)
        return result

    async def audience(self, room_id: int, after: int = 0) -> dict[str, Any]:
        result: dict[str, Any] = await self._request(
            "GET", f"/api/v1/rooms/{room_id}/audience", params={"after": after})
        return result

    async def notifications(self, unread: bool = False) -> list[dict[str, Any]]:
        return list(await self._request("GET", "/api/v1/notifications",
                                        params={"unread": str(unread).lower()}))

    async def get_room(self, room_id: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/api/v1/rooms/{room_id}")
        return result

    async def end_room(self, room_id: int) -> None:
        await self._request("POST", f"/api/v1/rooms/{room_id}/end")

    async def stage(self, room_id: int, action: str, member: str | int) -> None:
        """action: invite, move-to-audience, mute, unmute, remove, make-moderator or
        lower-hand."""
        await self._request("POST", f"/api/v1/rooms/{room_id}/stage/{action}",
                            json={"member": str(member)})
