import { signal } from '@preact/signals';

/** Hash routes (#/, #/services, #/services/NAME, #/new, #/stacks, #/stacks/NAME, #/deploy, #/volumes, #/volumes/NAME): the page never reloads. */
export const route = signal(location.hash || '#/');
addEventListener('hashchange', () => {
  route.value = location.hash || '#/';
});

export function go(hash: string): void {
  location.hash = hash;
}
