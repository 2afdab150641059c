// The room this tab is in, readable without loading the room screen's code (the shell's
// mini player). The session object itself lives in room.ts, loaded with the room screen.
import { signal } from "@preact/signals";
import type { RoomSession } from "./room";

export const currentRoom = signal<RoomSession | null>(null);
