import { reactive } from "vue";
import type { Recording } from "./api/recordings";

/** The docked player's state: the playlist and what plays now (shared by the list). */
export const player = reactive<{
  playlist: Recording[];
  current: Recording | null;
  startAt: number;
  request: number; // bumped by every play(): the bar loads or seeks on each
}>({ playlist: [], current: null, startAt: 0, request: 0 });

export function play(rec: Recording, at = 0): void {
  if (!player.playlist.some((r) => r.id === rec.id)) player.playlist.push(rec);
  player.current = rec;
  player.startAt = at;
  player.request += 1;
}

export function enqueue(rec: Recording): void {
  if (!player.playlist.some((r) => r.id === rec.id)) player.playlist.push(rec);
  if (!player.current) play(rec);
}

export function replace(rec: Recording): void {
  const i = player.playlist.findIndex((r) => r.id === rec.id);
  if (i >= 0) player.playlist[i] = rec;
  if (player.current?.id === rec.id) player.current = rec;
}

export function next(): void {
  const i = player.playlist.findIndex((r) => r.id === player.current?.id);
  if (i >= 0 && i + 1 < player.playlist.length) play(player.playlist[i + 1]);
}
