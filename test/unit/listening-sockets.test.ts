/** A host-network container's listening ports from /proc's socket tables (rows in the kernel's own format). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSocketTable, processTree, reachablePorts, socketInode } from '../../src/core/mesh/listening-sockets.ts';

const HEAD = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';
const row = (sl: number, local: string, remote: string, st: string, inode: number) =>
  `   ${sl}: ${local} ${remote} ${st} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 00000000636892c8 100 0 0 10 0\n`;

// 0.0.0.0:8123 LISTEN; 127.0.0.1:8124 LISTEN (loopback only); 127.61.0.3:18083 LISTEN (the node's
// address); 0.0.0.0:8123 -> 10.0.0.2:40000 ESTABLISHED; 10.0.0.9:80 LISTEN (another address)
const TCP = HEAD
  + row(0, '00000000:1FBB', '00000000:0000', '0A', 101)
  + row(1, '0100007F:1FBC', '00000000:0000', '0A', 102)
  + row(2, '03003D7F:46A3', '00000000:0000', '0A', 103)
  + row(3, '00000000:1FBB', '0200000A:9C40', '01', 104)
  + row(4, '0900000A:0050', '00000000:0000', '0A', 105);
// [::]:8300 LISTEN; [::ffff:127.61.0.3]:8301 LISTEN; [::1]:8302 LISTEN
const TCP6 = HEAD
  + row(0, '00000000000000000000000000000000:206C', '00000000000000000000000000000000:0000', '0A', 201)
  + row(1, '0000000000000000FFFF000003003D7F:206D', '00000000000000000000000000000000:0000', '0A', 202)
  + row(2, '00000000000000000000000001000000:206E', '00000000000000000000000000000000:0000', '0A', 203);
// 0.0.0.0:5353 bound; 0.0.0.0:40001 connected to 10.0.0.2:53 (a client socket, not a server)
const UDP = HEAD
  + row(0, '00000000:14E9', '00000000:0000', '07', 301)
  + row(1, '00000000:9C41', '0200000A:0035', '01', 302);

test('the kernel tables parse: addresses, ports, listening or not', () => {
  const tcp = parseSocketTable(TCP, 'tcp');
  assert.deepEqual(tcp.map((e) => [e.inode, e.addr, e.port, e.listening]), [
    ['101', '', 8123, true],
    ['102', '127.0.0.1', 8124, true],
    ['103', '127.61.0.3', 18083, true],
    ['104', '', 8123, false],
    ['105', '10.0.0.9', 80, true],
  ]);
  const tcp6 = parseSocketTable(TCP6, 'tcp');
  assert.deepEqual(tcp6.map((e) => [e.addr, e.port]), [['', 8300], ['127.61.0.3', 8301], ['00000000000000000000000000000001', 8302]]);
  assert.deepEqual(parseSocketTable(UDP, 'udp').map((e) => [e.port, e.listening]), [[5353, true], [40001, false]]);
  assert.deepEqual(parseSocketTable('', 'tcp'), []);
  assert.deepEqual(parseSocketTable(HEAD + 'garbage\n', 'tcp'), []);
});

test("only the container's own sockets that other machines can reach count", () => {
  const tables = [
    { protocol: 'tcp' as const, entries: [...parseSocketTable(TCP, 'tcp'), ...parseSocketTable(TCP6, 'tcp')] },
    { protocol: 'udp' as const, entries: parseSocketTable(UDP, 'udp') },
  ];
  const all = new Set(['101', '102', '103', '104', '105', '201', '202', '203', '301', '302']);
  assert.deepEqual(reachablePorts(tables, all, '127.61.0.3'), [
    { port: 5353, protocol: 'udp' },
    { port: 8123, protocol: 'tcp' },
    { port: 8300, protocol: 'tcp' },
    { port: 8301, protocol: 'tcp' },
    { port: 18083, protocol: 'tcp' },
  ]);
  // another process's sockets (the node's sshd, another container) are not this one's
  assert.deepEqual(reachablePorts(tables, new Set(['101']), '127.61.0.3'), [{ port: 8123, protocol: 'tcp' }]);
  assert.deepEqual(reachablePorts(tables, new Set(), '127.61.0.3'), []);
  // on another node address the one bound to 127.61.0.3 is not reachable
  assert.deepEqual(reachablePorts(tables, all, '127.61.0.9').map((p) => p.port), [5353, 8123, 8300]);
});

test('socket fds and the process tree', () => {
  assert.equal(socketInode('socket:[3552782]'), '3552782');
  assert.equal(socketInode('pipe:[12]'), undefined);
  assert.equal(socketInode('/dev/null'), undefined);
  // 10 → 11 → 13, 10 → 12; 20 is another tree; a loop does not hang it
  const parents = new Map([[10, 1], [11, 10], [12, 10], [13, 11], [20, 1], [30, 31], [31, 30]]);
  assert.deepEqual(processTree(10, parents).sort(), [10, 11, 12, 13]);
  assert.deepEqual(processTree(13, parents), [13]);
  assert.deepEqual(processTree(30, parents).sort(), [30, 31]);
});
