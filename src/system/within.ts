/**
 * Settles as `work` does, or rejects with "WHAT took longer than MS ms" once `ms` pass. For calls
 * that have no deadline of their own: the work goes on, only its late result is dropped.
 */
export function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
