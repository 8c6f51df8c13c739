/** "8000-8010:80": one port of the range, free in the whole cluster, kept across deploys. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyRangeChoices, choosePortsInRanges } from '../../src/core/compose/port-ranges.ts';
import { warrenPorts, type ReservedPort } from '../../src/core/compose/validate.ts';
import { stackServices } from '../../src/core/compose/to-services.ts';
import type { StackModel } from '../../src/core/compose/model.ts';
import { newServiceSpec } from '../../src/core/service-spec.ts';
import type { ServiceSpec } from '../../src/core/service-types.ts';
import { project } from '../helpers/compose.ts';

const stack = (name: string, services: string) => project({ 'compose.yaml': `name: ${name}\nservices:\n${services}` }).model;
/** The model's services as the cluster would hold them once deployed (ranges resolved). */
function deployed(model: StackModel, reserved: ReservedPort[] = [], existing: ServiceSpec[] = []): ServiceSpec[] {
  const r = choosePortsInRanges(model, existing, reserved);
  assert.deepEqual(r.errors, []);
  applyRangeChoices(r.choices);
  return stackServices(model, { nodeName: 'n1' }).map((s) => newServiceSpec(s, 1));
}
const chosen = (model: StackModel, existing: ServiceSpec[], reserved: ReservedPort[] = []) =>
  choosePortsInRanges(model, existing, reserved).choices.map((c) => `${c.path} ${c.published}/${c.port.protocol}`);

test('the lowest port of the range that nobody holds: other stacks, host-network services, the agents, this stack\'s fixed ports', () => {
  const other = deployed(stack('blog', '  web:\n    image: nginx\n    ports: ["8000:80", "8001:53/udp"]\n  ha:\n    image: ha\n    network_mode: host\n    expose: ["8002"]\n'));
  const reserved: ReservedPort[] = [...warrenPorts(), { port: 8003, protocol: 'tcp', what: "Warren's HTTP API", flag: '--http-port', node: 'n2' }];
  const mine = stack('shop', '  web:\n    image: nginx\n    ports: ["8000-8010:80", "8004:81", "8000-8010:53/udp"]\n  api:\n    image: api\n    ports: ["8000-8010:3000"]\n');
  assert.deepEqual(chosen(mine, other, reserved), [
    'services.web.ports[0] 8001/tcp', // 8000/tcp is blog-web's (8001 it publishes for udp only)
    'services.web.ports[2] 8000/udp', // 8001/udp is blog-web's
    'services.api.ports[0] 8005/tcp', // not 8001 (web's now), 8002 (ha's host port), 8003 (n2's API), 8004 (this stack's own)
  ]);
  assert.deepEqual(chosen(mine, []), ['services.web.ports[0] 8000/tcp', 'services.web.ports[2] 8000/udp', 'services.api.ports[0] 8001/tcp']);
});

test('a redeploy keeps the port the service has, even when a lower one is free now; a port now taken is given up', () => {
  const first = stack('shop', '  web:\n    image: nginx\n    ports: ["9000-9002:80"]\n');
  const blocker = deployed(stack('blog', '  web:\n    image: nginx\n    ports: ["9000:80"]\n'));
  const shop = deployed(first, [], blocker);
  assert.deepEqual(shop[0]!.ports, [{ container: 80, protocol: 'tcp', published: 9001 }], 'meshed on the chosen port, like "9001:80"');
  // blog goes away: 9000 is free, the shop keeps 9001
  assert.deepEqual(chosen(stack('shop', '  web:\n    image: nginx\n    ports: ["9000-9002:80"]\n'), shop), ['services.web.ports[0] 9001/tcp']);
  // the new file gives 9001 to another of its services as a fixed port: web moves within its range
  assert.deepEqual(chosen(stack('shop', '  web:\n    image: nginx\n    ports: ["9000-9002:80"]\n  api:\n    image: api\n    ports: ["9001:3000"]\n'), shop), ['services.web.ports[0] 9000/tcp']);
  // another stack's service of the same name does not count as this one's
  assert.deepEqual(chosen(stack('other', '  web:\n    image: nginx\n    ports: ["9000-9002:80"]\n'), shop), ['services.web.ports[0] 9000/tcp']);
});

test('a range with no free port is refused, naming who holds them; host-network services and fixed ports are left alone', () => {
  const held = deployed(stack('blog', '  a:\n    image: nginx\n    ports: ["7000:80"]\n  b:\n    image: nginx\n    ports: ["7001:80"]\n'));
  const r = choosePortsInRanges(stack('shop', '  web:\n    image: nginx\n    ports: ["7000-7001:80", "7100:81"]\n  ha:\n    image: ha\n    network_mode: host\n'), held, []);
  assert.deepEqual(r.choices, []);
  assert.deepEqual(r.errors, ['services.web.ports[0]: no host port of 7000-7001/tcp is free in the cluster (taken by service blog-a of stack blog, service blog-b of stack blog): widen the range or publish another one']);
});
