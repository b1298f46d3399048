// The node options a `serve --workers N` primary forks its workers with: its own, plus the
// young-generation floor from server.min_semi_space_mb — none at 0, and never a second one
// when the operator already gave node a floor.
import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../../cluster/process/supervisor.js';

describe('workerExecArgv', () => {
  it('adds --min-semi-space-size=N after the primary\'s own options', () => {
    expect(workerExecArgv(['--enable-source-maps'], 16)).toEqual(['--enable-source-maps', '--min-semi-space-size=16']);
  });

  it('adds nothing at 0 (V8\'s own policy)', () => {
    expect(workerExecArgv(['--cpu-prof'], 0)).toEqual(['--cpu-prof']);
  });

  it('keeps a floor given to node itself', () => {
    expect(workerExecArgv(['--min-semi-space-size=64'], 16)).toEqual(['--min-semi-space-size=64']);
  });
});
