/** Compose projects and clean-up for the stack integration tests (everything named "stacks-it..."). */
import { docker, HTTPD_IMAGE } from './images.ts';
import { removeContainers } from './docker-rm.ts';

/**
 * A 2-service stack of the busybox test image: `back` serves "back says $MSG"; `front` fetches
 * it by service name (into index.html) and by the alias `api` (into alias.html) every 0.2 s and
 * serves both on its published port. busybox applets not linked in the image run as `busybox X`.
 */
export function frontBackCompose(stack: string, opts: { volume?: boolean } = {}): string {
  return `
name: ${stack}
services:
  back:
    image: ${HTTPD_IMAGE}
    environment:
      MSG: \${MSG:-one}
    command: ["sh", "-c", "echo \\"back says $$MSG\\" > /www/index.html && exec httpd -f -p 80 -h /www"]
    networks:
      default:
        aliases: [api]
${opts.volume ? '    volumes:\n      - data:/data\n' : ''}  front:
    image: ${HTTPD_IMAGE}
    depends_on: [back]
    ports: ["80"]
    command:
      - sh
      - -c
      - >-
        while true; do
        wget -q -O /tmp/a http://back/ && busybox mv /tmp/a /www/index.html;
        wget -q -O /tmp/b http://api/ && busybox mv /tmp/b /www/alias.html;
        sleep 0.2; done &
        exec httpd -f -p 80 -h /www
${opts.volume ? 'volumes:\n  data:\n' : ''}`;
}

/** Removes the containers carrying `label` ("key=value"), then the networks carrying it (in use until their containers are gone). */
export async function removeLabelled(label: string): Promise<void> {
  const list = async (...args: string[]) => (await docker(...args, '--filter', `label=${label}`).catch(() => '')).split('\n').filter(Boolean);
  const ids = await list('ps', '-aq');
  await removeContainers(ids);
  const nets = await list('network', 'ls', '-q');
  if (nets.length) await docker('network', 'rm', ...nets).catch(() => undefined);
}

/** Removes the containers and networks of these nodes, and the named Docker volumes. */
export async function removeNodesDocker(nodeIds: string[], volumes: string[] = []): Promise<void> {
  for (const id of nodeIds.filter(Boolean)) await removeLabelled(`warren.node=${id}`);
  if (volumes.length) await docker('volume', 'rm', '-f', ...volumes).catch(() => undefined);
}
