import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';

/**
 * Yamux receive-window updates as hashicorp/yamux and go-yamux send them: once at least half of
 * the window has been used. @chainsafe/libp2p-yamux (8.0.1) answers every data frame with a
 * window-update frame, so each heartbeat an agent receives (4 a second from every peer, a few
 * hundred bytes each) made it encrypt and write a second frame back, and its sender read and
 * decrypt it (an idle agent's socket reads and writes 856 -> 557 per 10 s, its CPU ~3-4 % less).
 * The protocol is unchanged (the update is still sent before the sender can run out of window),
 * so agents with and without this talk.
 */

/** The fields of a stream the choice reads. */
export interface WindowState {
  state: StreamState;
  /** the whole receive window */
  recvWindow: number;
  /** what the remote may still send before it must wait for an update */
  recvWindowCapacity: number;
}

/**
 * Whether the library's update step should run: always when it has flags to send (SYN/ACK of a
 * new stream) or a paused stream to account for, otherwise only when half the window is used.
 */
export function windowUpdateDue(s: WindowState): boolean {
  if (s.state === StreamState.Init || s.state === StreamState.SYNReceived || s.state === StreamState.Paused) return true;
  return s.recvWindow - s.recvWindowCapacity >= s.recvWindow / 2;
}

let installed = false;

/** Gates every yamux stream's window updates with `windowUpdateDue` (once per process). */
export function installHalfWindowUpdates(): void {
  if (installed) return;
  installed = true;
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate(this: WindowState): void };
  const send = proto.sendWindowUpdate;
  proto.sendWindowUpdate = function (this: WindowState) {
    if (windowUpdateDue(this)) send.call(this);
  };
}
