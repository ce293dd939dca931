/** Loading a view's data, and again on demand: a refresh button, a poll, a change made in the view. */
import { useCallback, useEffect, useRef } from 'react';

/**
 * Runs `load` on mount and whenever it changes (memoise it with useCallback on what it reads), and
 * again on each call of the function returned (a refresh button, a poll, a change made here).
 * Each run gets its own signal: a new run aborts the one before it, and unmounting the last.
 */
export function useLoad(load: (signal: AbortSignal) => void): () => void {
  const current = useRef<AbortController | null>(null);
  const run = useCallback(() => {
    current.current?.abort();
    const ac = new AbortController();
    current.current = ac;
    load(ac.signal);
  }, [load]);
  useEffect(() => {
    run();
    return () => current.current?.abort();
  }, [run]);
  return run;
}
