import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StreamState, YamuxStream } from '@chainsafe/libp2p-yamux/stream';
import { Uint8ArrayList } from 'uint8arraylist';
import { installHalfWindowUpdates, windowUpdateDue } from '../../src/gossip/yamux-window.ts';

const WINDOW = 256 * 1024;

describe('yamux window updates', () => {
  it('are due for flags and pauses at once, otherwise from half the window used', () => {
    for (const state of [StreamState.Init, StreamState.SYNReceived, StreamState.Paused]) {
      assert.equal(windowUpdateDue({ state, recvWindow: WINDOW, recvWindowCapacity: WINDOW }), true, StreamState[state]);
    }
    for (const state of [StreamState.SYNSent, StreamState.Established, StreamState.Finished]) {
      assert.equal(windowUpdateDue({ state, recvWindow: WINDOW, recvWindowCapacity: WINDOW }), false);
      assert.equal(windowUpdateDue({ state, recvWindow: WINDOW, recvWindowCapacity: WINDOW / 2 + 1 }), false);
      assert.equal(windowUpdateDue({ state, recvWindow: WINDOW, recvWindowCapacity: WINDOW / 2 }), true);
      assert.equal(windowUpdateDue({ state, recvWindow: WINDOW, recvWindowCapacity: 0 }), true);
    }
  });

  it('two real yamux streams: every byte arrives, a message at a time or in bursts past the window, with one update per half window', async () => {
    installHalfWindowUpdates();
    const noLog = Object.assign(() => {}, { enabled: false, error: () => {}, trace: () => {}, newScope: () => noLog });
    const frames = { data: 0, updates: 0 };
    let received = 0;
    // the receiver's frames go back to the sender's window; the sender's data frames to the receiver
    let sender!: YamuxStream;
    const receiver = new YamuxStream({
      id: '1', streamId: 1, state: StreamState.SYNReceived, direction: 'inbound', log: noLog as never, getRTT: () => -1,
      sendFrame: (header) => {
        if (header.type === 1) {
          frames.updates++;
          sender.handleWindowUpdate({ header } as never);
        }
        return true;
      },
    });
    receiver.addEventListener('message', (e) => {
      received += (e as unknown as { data: Uint8ArrayList | Uint8Array }).data.byteLength;
    });
    sender = new YamuxStream({
      id: '1', streamId: 1, state: StreamState.Established, direction: 'outbound', log: noLog as never, getRTT: () => -1,
      sendFrame: (header, body) => {
        frames.data++;
        receiver.handleData({ header, data: body ?? new Uint8ArrayList() } as never);
        return true;
      },
    });
    receiver.sendWindowUpdate(); // the ACK of the new stream: due at once
    assert.equal(frames.updates, 1);
    let sent = 0;
    for (let i = 0; i < 2000; i++) {
      const size = i % 100 === 99 ? 300_000 : 400; // heartbeats, and now and then more than a window at once
      sender.send(new Uint8Array(size));
      sent += size;
    }
    assert.equal(received, sent, 'every byte reached the receiver');
    assert.ok(frames.updates <= 1 + Math.ceil((2 * sent) / WINDOW) + 1, `${frames.updates} updates for ${frames.data} data frames`);
    assert.ok(frames.updates < frames.data / 10, `${frames.updates} updates for ${frames.data} data frames`);
  });
});
