/**
 * Leadership as a write may rely on it: the election key (etcd deletes it when the leader's lease
 * expires, and no other candidate is elected while it exists) and a way to report it gone.
 * A leader's write compares the key exists (`txn.and(key, 'Create', '>', 0)`), so a leader deposed
 * while cut off cannot act on its stale view before it learns of its deposition.
 */
export interface Leadership {
  key: string;
  /** a fenced write found the key gone: give up leadership and campaign again */
  deposed(): void;
}
