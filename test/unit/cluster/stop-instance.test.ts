// `serve`'s stop (cluster/process/run-instance.ts stopInstance) when a part after the drain never
// ends: it logs which part it gave up on and resolves false (the process exits 1) instead of hanging
// — a pod that never stops. The instance here is a stand-in whose closing hangs; fake timers.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { STOP_CLOSE_BOUND_MS, STOP_SLOW_MS, stopInstance } from '../../../cluster/process/run-instance.js';
import type { ProxyInstance } from '../../../node/instance.js';

afterEach(() => { vi.useRealTimers(); });

function hangingInstance(lines: Array<[string, string]>): ProxyInstance {
  const log = (level: string) => (a: unknown, b?: string): void => { lines.push([level, typeof a === 'string' ? a : b!]); };
  return {
    config: { server: { timeouts: { shutdown_delay_ms: 0, drain_ms: 10_000 } } },
    logger: { warn: log('warn'), error: log('error'), info: log('info') },
    shutdown: (progress: (part: string) => void = () => {}) => {
      progress('drain');
      progress('upstream pools');
      return new Promise(() => {}); // a pool that never closes
    },
  } as unknown as ProxyInstance;
}

describe('stopInstance', () => {
  it('names a closing part that hangs, then gives up on it after the bound instead of never resolving', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance'] });
    const lines: Array<[string, string]> = [];
    let settled: boolean | null = null;
    void stopInstance(hangingInstance(lines)).then((clean) => { settled = clean; });
    await vi.advanceTimersByTimeAsync(STOP_SLOW_MS + 1_000);
    expect(lines.filter(([level]) => level === 'warn').map(([, l]) => l)).toEqual([expect.stringMatching(/^still stopping: proxy's upstream pools \(1\d s\)$/)]);
    expect(settled).toBeNull();
    await vi.advanceTimersByTimeAsync(STOP_CLOSE_BOUND_MS);
    expect(settled).toBe(false);
    expect(lines).toContainEqual(['error', `stop gave up: proxy's upstream pools still running ${STOP_CLOSE_BOUND_MS / 1000} s after the drain; exiting 1`]);
  });
});
