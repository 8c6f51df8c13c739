/** Gossip topic names (part of the user-facing contract: keep them). */
export const TOPICS = {
  membership: 'warren/membership',
  health: 'warren/health',
  admission: 'warren/admission',
  eventsPrefix: 'warren/events/',
  userPrefix: 'warren/user/',
} as const;

/** The metrics label of a topic: user and cluster-event topics are grouped (user names are unbounded). */
export function topicFamily(topic: string): string {
  if (topic.startsWith(TOPICS.userPrefix)) return 'user';
  if (topic.startsWith(TOPICS.eventsPrefix)) return 'events';
  return topic.slice(topic.indexOf('/') + 1);
}

export const CLUSTER_EVENT_NAMES = [
  'node.joined',
  'node.suspect',
  'node.alive',
  'node.dead',
  'node.left',
  'service.scheduled',
  'service.started',
  'service.failed',
  'service.moved',
  'stack.deployed',
  'stack.removed',
  'volume.snapshot',
  'volume.replicated',
  'volume.replication_failed',
  'volume.restored',
  'volume.at_risk',
  'volume.fenced',
] as const;
export type ClusterEventName = (typeof CLUSTER_EVENT_NAMES)[number];

export const MAX_USER_PAYLOAD_BYTES = 64 * 1024;

const USER_TOPIC_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function isClusterEventName(name: string): name is ClusterEventName {
  return (CLUSTER_EVENT_NAMES as readonly string[]).includes(name);
}

/** Why a user topic name is not acceptable, or undefined when it is. */
export function userTopicProblem(topic: string): string | undefined {
  if (!USER_TOPIC_RE.test(topic)) {
    return `topic "${topic}" must be 1-64 characters of lowercase letters, digits, ".", "_" and "-", starting with a letter or digit`;
  }
  if (isClusterEventName(topic) || /^(node|service)\./.test(topic)) {
    return `topic "${topic}" is reserved for cluster events`;
  }
  return undefined;
}

export const clusterEventTopic = (name: ClusterEventName) => `${TOPICS.eventsPrefix}${name}`;
export const userTopic = (topic: string) => `${TOPICS.userPrefix}${topic}`;

/**
 * Resolves what a subscriber asked for (`*`, a cluster event name, a user topic, or a full
 * gossip topic name) into gossip topics. Throws a readable message for anything else.
 */
export function resolveSubscription(requested: string[]): string[] {
  const out = new Set<string>();
  for (const raw of requested.length ? requested : ['*']) {
    const t = raw.trim();
    if (t === '*') for (const n of CLUSTER_EVENT_NAMES) out.add(clusterEventTopic(n));
    else if (isClusterEventName(t)) out.add(clusterEventTopic(t));
    else if (t.startsWith(TOPICS.eventsPrefix) && isClusterEventName(t.slice(TOPICS.eventsPrefix.length))) out.add(t);
    else if (t.startsWith(TOPICS.userPrefix) && !userTopicProblem(t.slice(TOPICS.userPrefix.length))) out.add(t);
    else {
      const problem = userTopicProblem(t);
      if (problem) throw new Error(problem);
      out.add(userTopic(t));
    }
  }
  return [...out];
}
