import { AbstractMultiaddrConnection } from '@libp2p/utils';

/**
 * One write per libp2p frame instead of two.
 *
 * Why: noise hands each encrypted frame to the TCP connection as two buffers (its 2-byte length,
 * then the ciphertext), and @libp2p/tcp writes every buffer with its own socket.write. With
 * noDelay (its default) each became a syscall and a TCP segment of its own: half of an idle
 * agent's writes were 2-byte ones, and every peer woke up to read them separately. Corking the
 * socket while the connection flushes its send queue makes Node write the queue at once (one
 * writev) when it is uncorked at the end of the same call: same bytes, same order, no delay.
 *
 * This wraps processSendQueue of @libp2p/utils' AbstractMultiaddrConnection (the base of the TCP
 * connection, whose `socket` is the net.Socket); it only acts on connections that have a corkable
 * socket, and does nothing if a later @libp2p/utils moves the method (test/unit/tcp-cork.test.ts
 * checks that the frames still go out whole).
 */
let installed = false;

interface SendQueueOwner {
  socket?: { cork?: () => void; uncork?: () => void };
  processSendQueue(): boolean;
}

export function corkTcpWrites(): boolean {
  if (installed) return true;
  const proto = AbstractMultiaddrConnection.prototype as unknown as SendQueueOwner;
  const inherited = (Object.getPrototypeOf(proto) as SendQueueOwner | null)?.processSendQueue;
  if (typeof inherited !== 'function' || Object.prototype.hasOwnProperty.call(proto, 'processSendQueue')) return false;
  Object.defineProperty(proto, 'processSendQueue', {
    configurable: true,
    writable: true,
    value: function processSendQueue(this: SendQueueOwner): boolean {
      const socket = this.socket;
      if (typeof socket?.cork !== 'function' || typeof socket.uncork !== 'function') return inherited.call(this);
      socket.cork();
      try {
        return inherited.call(this);
      } finally {
        socket.uncork();
      }
    },
  });
  installed = true;
  return true;
}
