import { effect, useSignal, type Signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';
import type { WarrenEvent } from '../core/gossip-messages.ts';
import { call, live, onEvent, snapshot } from './connection.ts';
import { memberKey } from './volume-model.ts';

export interface Fetched<T> {
  data?: T;
  /** when `data` was answered (ages in it are as of then) */
  at: number;
  /** the last read failed with this (the data shown is the one before) */
  error?: string;
}

/** After an event, one more read this long after the last: a copy's record and its `applied` flag land just after the event. */
const FOLLOW_UP_MS = 1000;

/**
 * Data the page's one stream does not carry (volumes: read from `path`), kept live by that
 * stream: read when the view opens, after every event `relevant` accepts, when the stream comes
 * back (events may have been missed) and when a member's state changes. No timer of its own;
 * reads never overlap (a trigger during one reads once more after it).
 */
export function useLive<T>(path: string, relevant: (e: WarrenEvent) => boolean): Signal<Fetched<T> | undefined> {
  const out = useSignal<Fetched<T> | undefined>(undefined);
  useEffect(() => {
    out.value = undefined;
    let running = false;
    let again = false;
    let stopped = false;
    let followUp: ReturnType<typeof setTimeout> | undefined;
    const read = async () => {
      if (running) return void (again = true);
      running = true;
      do {
        again = false;
        try {
          const data = await call<T>('GET', path);
          if (!stopped) out.value = { data, at: Date.now() };
        } catch (err) {
          if (!stopped) out.value = { data: out.peek()?.data, at: out.peek()?.at ?? Date.now(), error: (err as Error).message };
        }
      } while (again && !stopped);
      running = false;
    };
    const offEvents = onEvent((e) => {
      if (!relevant(e)) return;
      void read();
      clearTimeout(followUp);
      followUp = setTimeout(() => void read(), FOLLOW_UP_MS);
    });
    let key: string | undefined;
    const offState = effect(() => {
      const k = `${live.value} ${memberKey(snapshot.value?.members ?? [])}`;
      if (k === key) return;
      key = k;
      if (live.value) void read();
    });
    return () => {
      stopped = true;
      offEvents();
      offState();
      clearTimeout(followUp);
    };
  }, [path]);
  return out;
}
