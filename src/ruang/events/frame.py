"""A text message to send to clients, encoded once however many connections it goes to."""

from __future__ import annotations


class Frame:
    __slots__ = ("_data", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._data: bytes | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self.text.encode()
        return self._data
