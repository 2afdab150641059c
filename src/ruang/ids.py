"""Shared id aliases. Imports nothing from Ruang so every layer can use it."""

from typing import NewType

MemberId = NewType("MemberId", int)
RoomId = NewType("RoomId", int)
SessionId = NewType("SessionId", int)
# An opaque id the server gives one media negotiation (one peer connection) of one member.
MediaId = NewType("MediaId", str)
Seq = NewType("Seq", int)
