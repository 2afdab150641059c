"""The waitlist and invitations over the API, against a real server (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from ruang.actions import members as member_actions
from ruang.errors import Conflict
from ruang.storage.models import Invite, utcnow
from tests.integration.kit import Client, Kit


@pytest.fixture
async def kit(live: Any) -> AsyncIterator[Kit]:
    async with Kit(live) as k:
        yield k


def entry(name: str, email: str, username: str, vouchers: list[str] | None = None,
          **extra: Any) -> dict[str, Any]:
    return {"name": name, "email": email, "username": username,
            "vouchers": vouchers or [], **extra}


async def join(kit: Kit, **body: Any) -> dict[str, Any]:
    resp = await kit.anon.call("POST", "/api/v1/waitlist", json=body)
    assert resp.status_code == 202, resp.text
    return dict(resp.json())


async def status_of(kit: Kit, token: str) -> dict[str, Any]:
    return dict(await kit.anon.get("/api/v1/waitlist/status", params={"token": token}))


async def send_invite(client: Client, email: str) -> dict[str, Any]:
    return dict(await client.ok("POST", "/api/v1/invites", status=201, json={"email": email}))


async def redeem(kit: Kit, token: str, password: str = "copper-kettle-song",
                 **extra: Any) -> dict[str, Any]:
    return dict(await kit.anon.ok("POST", "/api/v1/invites/redeem", status=201,
                                  json={"token": token, "password": password, **extra}))


# --- the waitlist ---------------------------------------------------------------------------


async def test_waitlist_refuses_invalid_input(kit: Kit) -> None:
    await kit.member("mentor")
    bad = [
        entry("Ann", "not-an-email", "ann"),
        entry("Ann", "ann@nowhere", "ann"),
        entry("Ann", "ann@example.org", "1ann"),
        entry("Ann", "ann@example.org", "an"),
        entry("Ann", "ann@example.org", "ann lee"),
        entry("Ann", "ann@example.org", "ann-lee"),
        entry("", "ann@example.org", "ann"),
        entry("   ", "ann@example.org", "ann"),
        entry("Ann", "ann@example.org", "ann", note="x" * 501),
        entry("Ann", "ann@example.org", "ann", ["mentor"] * 6),
        entry("Ann", "ann@example.org", "ann", [f"m{i}" for i in range(6)]),
        {**entry("Ann", "ann@example.org", "ann"), "admin": True},
    ]
    for body in bad:
        await kit.anon.fails("POST", "/api/v1/waitlist", 400, "invalid_input", json=body)
    err = await kit.anon.fails("POST", "/api/v1/waitlist", 404, "member_not_found",
                               json=entry("Ann", "ann@example.org", "ann",
                                          ["mentor", "@nobody_here"]))
    assert "nobody_here" in err["message"]
    # Nothing was kept or sent for any of them: the same request, corrected, goes through.
    assert await kit.new_mail() == []
    await join(kit, **entry("Ann", "ann@example.org", "ann", ["mentor"]))
    received = await kit.last_mail("ann@example.org", "waitlist")
    assert kit.token_in(received, "waitlist")
    assert len(await kit.mail_to("ann@example.org")) == 1


async def test_a_waiting_username_is_reserved(kit: Kit) -> None:
    mentor = await kit.member("mentor")
    await join(kit, **entry("Zed", "zed@example.org", "Zed_1"))
    await kit.anon.fails("POST", "/api/v1/waitlist", 409, "username_taken",
                         json=entry("Other Zed", "zed2@example.org", "zed_1"))
    # Nor can an administrator give it to someone else.
    with pytest.raises(Conflict) as taken:
        await member_actions.create_member(kit.svc, "ZED_1", "rattle-and-hum-77")
    assert taken.value.code == "username_taken"
    # Nor can someone redeeming an invitation pick it.
    await send_invite(mentor, "yan@example.org")
    token = await kit.link_token("yan@example.org", "invite")
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 409, "username_taken",
                         json={"token": token, "password": "copper-kettle-song",
                               "username": "zEd_1"})
    # Nor someone changing their username, nor a member's name on the waitlist.
    await mentor.fails("PATCH", "/api/v1/me/profile", 409, "username_taken",
                       json={"username": "zed_1"})
    await kit.anon.fails("POST", "/api/v1/waitlist", 409, "username_taken",
                         json=entry("Men Tor", "mentor2@example.org", "MENTOR"))
    # The refused redemption changed nothing: the invitation still works with another name.
    yan = await redeem(kit, token, username="yan")
    assert yan["member"]["username"] == "yan"
    assert (await mentor.get("/api/v1/me"))["username"] == "mentor"


async def test_joining_again_or_as_a_member_answers_exactly_the_same(kit: Kit) -> None:
    await kit.member("member", email="Member@Example.org")
    fresh = await kit.anon.call("POST", "/api/v1/waitlist",
                                json=entry("Fresh", "fresh@example.org", "fresh"))
    again = await kit.anon.call("POST", "/api/v1/waitlist",
                                json=entry("Fresh Again", "FRESH@example.org", "fresh_two"))
    member = await kit.anon.call("POST", "/api/v1/waitlist",
                                 json=entry("Member", "member@EXAMPLE.org", "member_two"))
    for resp in (again, member):
        assert resp.status_code == fresh.status_code == 202
        assert resp.content == fresh.content
        assert resp.headers["content-type"] == fresh.headers["content-type"]
    # The only difference is the email each address receives.
    to_fresh = await kit.mail_to("fresh@example.org")
    assert [m.kind for m in to_fresh] == ["waitlist", "waitlist"]
    assert kit.token_in(to_fresh[0], "waitlist")
    for notice in (to_fresh[1], await kit.last_mail("member@example.org")):
        assert "already" in notice.text
        assert "/waitlist/" not in notice.text
        assert "/invite/" not in notice.text
    assert len(await kit.mail_to("member@example.org")) == 1
    # Neither repeated request reserved its username.
    await join(kit, **entry("Two", "two@example.org", "fresh_two"))
    await join(kit, **entry("Three", "three@example.org", "member_two"))


async def test_the_same_address_joining_twice_at_once_answers_the_same(kit: Kit) -> None:
    admin = await kit.member("root", admin=True)
    answers = await asyncio.gather(*(
        kit.anon.call("POST", "/api/v1/waitlist",
                      json=entry(f"Twin {i}", "twin@example.org", f"twin_{i}"))
        for i in range(3)))
    assert [resp.status_code for resp in answers] == [202, 202, 202], \
        [resp.text for resp in answers]
    assert len({resp.content for resp in answers}) == 1
    entries = [e for e in await admin.get("/api/v1/admin/waitlist")
               if e["email"] == "twin@example.org"]
    assert len(entries) == 1
    links = [m for m in await kit.mail_to("twin@example.org") if "/waitlist/" in m.text]
    assert len(links) == 1


async def test_waitlist_positions_and_the_admin_decisions(kit: Kit) -> None:
    admin = await kit.member("root", admin=True)
    first = await kit.member("first")  # created before "second": the first voucher
    second = await kit.member("second")
    people = [("Amy", "amy@example.org", "amy", ["first", "second"]),
              ("Ben", "ben@example.org", "ben", []),
              ("Cat", "cat@example.org", "cat", ["second"]),
              ("Dan", "dan@example.org", "dan", []),
              ("Eve", "eve@example.org", "eve", [])]
    tokens = {}
    for name, email, username, vouchers in people:
        await join(kit, **entry(name, email, username, vouchers))
        tokens[username] = await kit.link_token(email, "waitlist", "waitlist")
    for position, username in enumerate(tokens, start=1):
        assert (await status_of(kit, tokens[username]))["position"] == position
    await kit.anon.fails("GET", "/api/v1/waitlist/status", 404, "not_found",
                         params={"token": "x" * 43})

    waiting = await admin.get("/api/v1/admin/waitlist")
    assert [e["username"] for e in waiting] == ["amy", "ben", "cat", "dan", "eve"]
    assert waiting[0]["email"] == "amy@example.org"
    assert waiting[0]["vouched_by"] == ["first", "second"]
    ids = {e["username"]: e["id"] for e in waiting}

    # Members are not administrators.
    for client in (first, second):
        await client.fails("GET", "/api/v1/admin/waitlist", 403, "not_an_admin")
        await client.fails("POST", "/api/v1/admin/waitlist/approve", 403, "not_an_admin",
                           json={"ids": [ids["amy"]]})
        await client.fails("POST", "/api/v1/admin/waitlist/reject", 403, "not_an_admin",
                           json={"ids": [ids["dan"]]})
    assert (await status_of(kit, tokens["amy"]))["status"] == "waiting"

    # Approve in bulk: duplicates and unknown ids are skipped.
    changed = await admin.ok("POST", "/api/v1/admin/waitlist/approve",
                             json={"ids": [ids["amy"], ids["ben"], ids["amy"], 987654]})
    assert changed == {"changed": 2}
    for username in ("amy", "ben"):
        assert await status_of(kit, tokens[username]) == {
            "name": username.title(), "username": username, "status": "invited",
            "position": None}
    assert (await status_of(kit, tokens["cat"]))["position"] == 1
    assert (await status_of(kit, tokens["eve"]))["position"] == 3
    # Nobody's invitations were used.
    for client in (admin, first, second):
        assert (await client.get("/api/v1/me"))["invites_left"] == 2
        assert (await client.get("/api/v1/invites"))["invites_left"] == 2

    amy_token = await kit.link_token("amy@example.org", "invite", "invite")
    ben_token = await kit.link_token("ben@example.org", "invite", "invite")
    assert (await kit.anon.get("/api/v1/invites/lookup", params={"token": amy_token})) \
        ["username"] == "amy"
    amy = await redeem(kit, amy_token)
    ben = await redeem(kit, ben_token)
    assert (amy["member"]["username"], ben["member"]["username"]) == ("amy", "ben")
    assert (await first.get("/api/v1/members/amy"))["nominated_by"] == "first"
    assert (await first.get("/api/v1/members/ben"))["nominated_by"] == "root"
    assert (await first.get("/api/v1/invites"))["invites_left"] == 2

    # Reject in bulk: the usernames are free again and a notice goes out.
    changed = await admin.ok("POST", "/api/v1/admin/waitlist/reject",
                             json={"ids": [ids["dan"], ids["eve"], ids["amy"]]})
    assert changed == {"changed": 2}
    for username, email in (("dan", "dan@example.org"), ("eve", "eve@example.org")):
        assert (await status_of(kit, tokens[username]))["status"] == "rejected"
        notice = await kit.last_mail(email)
        assert notice.subject == "About your Ruang waitlist request"
        assert "decided not to" in notice.text
        assert "/invite/" not in notice.text
    await join(kit, **entry("Another Dan", "dan2@example.org", "dan"))
    await member_actions.create_member(kit.svc, "Eve", "tidal-pools-glow")
    # A decision made cannot be made again.
    assert await admin.ok("POST", "/api/v1/admin/waitlist/approve",
                          json={"ids": [ids["dan"], ids["amy"]]}) == {"changed": 0}

    rejected = await admin.get("/api/v1/admin/waitlist", params={"status": "rejected"})
    assert [e["username"] for e in rejected] == ["dan", "eve"]
    joined = await admin.get("/api/v1/admin/waitlist", params={"status": "joined"})
    assert [e["username"] for e in joined] == ["amy", "ben"]
    everyone = await admin.get("/api/v1/admin/waitlist", params={"status": "all"})
    assert [e["username"] for e in everyone] == ["amy", "ben", "cat", "dan", "eve", "dan"]
    await admin.fails("GET", "/api/v1/admin/waitlist", 400, "invalid_input",
                      params={"status": "maybe"})
    await admin.fails("POST", "/api/v1/admin/waitlist/approve", 400, "invalid_input",
                      json={"ids": []})


# --- invitations ----------------------------------------------------------------------------


async def test_sending_and_revoking_invitations(kit: Kit) -> None:
    host = await kit.member("host", display_name="Hosting Harriet")
    other = await kit.member("other")
    one = await send_invite(host, "one@example.org")
    assert one["status"] == "pending"
    assert (await host.get("/api/v1/me"))["invites_left"] == 1
    two = await send_invite(host, "two@example.org")
    mine = await host.get("/api/v1/invites")
    assert mine["invites_left"] == 0
    assert [i["email"] for i in mine["invites"]] == ["two@example.org", "one@example.org"]
    await host.fails("POST", "/api/v1/invites", 409, "no_invites_left",
                     json={"email": "three@example.org"})
    await host.fails("POST", "/api/v1/invites", 400, "invalid_input",
                     json={"email": "not an address"})

    token_one = await kit.link_token("one@example.org", "invite", "invite")
    letter = await kit.last_mail("one@example.org")
    assert "Hosting Harriet invited you" in letter.text
    lookup = await kit.anon.get("/api/v1/invites/lookup", params={"token": token_one})
    assert lookup["inviter"] == "Hosting Harriet"
    assert lookup["email"] == "one@example.org"
    assert lookup["username"] is None

    # Someone else cannot take it back; the sender can, and gets it back.
    await other.fails("DELETE", f"/api/v1/invites/{one['id']}", 404, "invite_not_found")
    await host.ok("DELETE", f"/api/v1/invites/{one['id']}", status=204)
    assert (await host.get("/api/v1/invites"))["invites_left"] == 1
    assert [i["status"] for i in (await host.get("/api/v1/invites"))["invites"]] == \
        ["pending", "revoked"]
    await host.fails("DELETE", f"/api/v1/invites/{one['id']}", 409, "invite_used")
    assert (await host.get("/api/v1/invites"))["invites_left"] == 1
    await kit.anon.fails("GET", "/api/v1/invites/lookup", 404, "invite_not_found",
                         params={"token": token_one})
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 404, "invite_not_found",
                         json={"token": token_one, "password": "copper-kettle-song",
                               "username": "one"})

    # A used invitation, and forged tokens.
    token_two = await kit.link_token("two@example.org", "invite", "invite")
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 400, "invalid_input",
                         json={"token": token_two, "password": "copper-kettle-song"})
    await redeem(kit, token_two, username="two")
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 409, "invite_used",
                         json={"token": token_two, "password": "copper-kettle-song",
                               "username": "two_again"})
    await kit.anon.fails("GET", "/api/v1/invites/lookup", 409, "invite_used",
                         params={"token": token_two})
    await host.fails("DELETE", f"/api/v1/invites/{two['id']}", 409, "invite_used")
    forged = token_two[:-4] + ("AAAA" if not token_two.endswith("AAAA") else "BBBB")
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 404, "invite_not_found",
                         json={"token": forged, "password": "copper-kettle-song",
                               "username": "forger"})
    await kit.anon.fails("GET", "/api/v1/invites/lookup", 404, "invite_not_found",
                         params={"token": forged})
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 400, "invalid_input",
                         json={"token": "short", "password": "copper-kettle-song"})
    assert (await host.get("/api/v1/invites"))["invites"][0]["redeemed_by"] == "two"


async def test_revoking_a_wave_in_puts_the_entry_back_on_the_waitlist(kit: Kit) -> None:
    mentor = await kit.member("mentor")
    await join(kit, **entry("Wendy", "wendy@example.org", "wendy", ["mentor"]))
    status_token = await kit.link_token("wendy@example.org", "waitlist")
    entry_id = (await mentor.get("/api/v1/waitlist/named-me"))[0]["id"]
    invite = await mentor.ok("POST", f"/api/v1/waitlist/{entry_id}/wave-in", status=201)
    await mentor.fails("POST", f"/api/v1/waitlist/{entry_id}/wave-in", 404, "not_found")
    token = await kit.link_token("wendy@example.org", "invite", "invite")
    await mentor.ok("DELETE", f"/api/v1/invites/{invite['id']}", status=204)
    assert (await mentor.get("/api/v1/me"))["invites_left"] == 2
    assert (await status_of(kit, status_token))["status"] == "waiting"
    assert [e["id"] for e in await mentor.get("/api/v1/waitlist/named-me")] == [entry_id]
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 404, "invite_not_found",
                         json={"token": token, "password": "copper-kettle-song"})
    # Someone the entry did not name cannot wave it in.
    stranger = await kit.member("stranger")
    await stranger.fails("POST", f"/api/v1/waitlist/{entry_id}/wave-in", 404, "not_found")
    assert (await stranger.get("/api/v1/me"))["invites_left"] == 2


async def test_expired_invitations_are_refunded_and_refused(kit: Kit) -> None:
    host = await kit.member("host")
    first = await send_invite(host, "late@example.org")
    second = await send_invite(host, "later@example.org")
    late_token = await kit.link_token("late@example.org", "invite")
    later_token = await kit.link_token("later@example.org", "invite")
    past = utcnow() - dt.timedelta(seconds=1)
    await kit.execute(update(Invite).where(Invite.id.in_([first["id"], second["id"]]))
                      .values(expires_at=past))

    # Redeeming before anyone looked: refused as expired.
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 409, "invite_expired",
                         json={"token": late_token, "password": "copper-kettle-song",
                               "username": "late"})
    # Listing gives both back, once.
    mine = await host.get("/api/v1/invites")
    assert mine["invites_left"] == 2
    assert [i["status"] for i in mine["invites"]] == ["expired", "expired"]
    assert (await host.get("/api/v1/invites"))["invites_left"] == 2
    assert (await host.get("/api/v1/me"))["invites_left"] == 2
    for token in (late_token, later_token):
        await kit.anon.fails("POST", "/api/v1/invites/redeem", 409, "invite_expired",
                             json={"token": token, "password": "copper-kettle-song",
                                   "username": "late"})
        await kit.anon.fails("GET", "/api/v1/invites/lookup", 409, "invite_expired",
                             params={"token": token})
    await host.fails("DELETE", f"/api/v1/invites/{first['id']}", 409, "invite_used")
    assert (await host.get("/api/v1/invites"))["invites_left"] == 2

    # Sending refunds expired ones first, too.
    a = await send_invite(host, "a@example.org")
    b = await send_invite(host, "b@example.org")
    await kit.execute(update(Invite).where(Invite.id == a["id"]).values(expires_at=past))
    await send_invite(host, "c@example.org")  # possible only with a's invitation back
    mine = await host.get("/api/v1/invites")
    assert mine["invites_left"] == 0
    assert {i["email"]: i["status"] for i in mine["invites"]}["b@example.org"] == "pending"
    assert {i["email"]: i["status"] for i in mine["invites"]}["a@example.org"] == "expired"
    async with kit.svc.db.read() as s:
        b_row = await s.get(Invite, b["id"])
        assert b_row is not None
        assert b_row.revoked_at is None


async def test_admins_grant_invitations(kit: Kit) -> None:
    admin = await kit.member("root", admin=True)
    host = await kit.member("host")
    assert await admin.ok("POST", "/api/v1/admin/members/host/invites",
                          json={"count": 3}) == {"invites_left": 5}
    assert await admin.ok("POST", "/api/v1/admin/members/@HOST/invites",
                          json={"count": 1}) == {"invites_left": 6}
    assert (await host.get("/api/v1/me"))["invites_left"] == 6
    await admin.fails("POST", "/api/v1/admin/members/nobody/invites", 404, "member_not_found",
                      json={"count": 1})
    for count in (0, -1, 1001):
        await admin.fails("POST", "/api/v1/admin/members/host/invites", 400, "invalid_input",
                          json={"count": count})
    await host.fails("POST", "/api/v1/admin/members/host/invites", 403, "not_an_admin",
                     json={"count": 5})
    assert (await host.get("/api/v1/me"))["invites_left"] == 6


async def test_redeeming_refuses_weak_passwords(kit: Kit) -> None:
    host = await kit.member("host")
    await send_invite(host, "pat.smith@example.org")
    token = await kit.link_token("pat.smith@example.org", "invite")
    weak = ["short-1",                  # too short
            "password123",              # common
            "Qwertyuiop",               # common, whatever the case
            "aaaaaaaaaaaaaa",           # too few different characters
            "my-patsy-99-secret",       # contains the username
            "xx-PATSY-xx-yy",           # contains the username, another case
            "pat.smith-is-me",          # contains the address
            "x" * 257]                  # too long
    for password in weak:
        await kit.anon.fails("POST", "/api/v1/invites/redeem", 400, "invalid_input",
                             json={"token": token, "password": password, "username": "patsy"})
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 400, "invalid_input",
                         json={"token": token, "password": "copper-kettle-song",
                               "username": "9patsy"})
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 400, "invalid_input",
                         json={"token": token, "password": "copper-kettle-song"})
    # None of that used the invitation or the name.
    member = await redeem(kit, token, username="patsy", display_name="Pat Smith")
    assert member["member"]["display_name"] == "Pat Smith"


async def test_an_invitation_to_a_members_address(kit: Kit) -> None:
    host = await kit.member("host")
    helper = await kit.member("helper")
    await kit.member("known", email="known@example.org")
    await send_invite(host, "KNOWN@example.org")
    assert (await host.get("/api/v1/invites"))["invites_left"] == 1
    notice = await kit.last_mail("known@example.org", "invite")
    assert "already belongs to a member" in notice.text
    assert "/invite/" not in notice.text
    assert len(await kit.mail_to("known@example.org")) == 1

    # Two members invite the same newcomer: once one invitation made them a member, the
    # other cannot make a second account.
    await send_invite(host, "newcomer@example.org")
    await send_invite(helper, "Newcomer@example.org")
    first, second = [kit.token_in(m, "invite")
                     for m in await kit.mail_to("newcomer@example.org", "invite")]
    await redeem(kit, first, username="newcomer")
    await kit.anon.fails("POST", "/api/v1/invites/redeem", 409, "already_member",
                         json={"token": second, "password": "copper-kettle-song",
                               "username": "newcomer_two"})
    await kit.anon.fails("POST", "/api/v1/auth/login", 401, "invalid_credentials",
                         json={"username": "newcomer_two", "password": "copper-kettle-song"})
