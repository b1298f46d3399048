// U+2028/U+2029 in an audit record written to the audit file: escaped by AuditLog itself (standard
// output's destination escapes its own lines: test/integration/observability/log-flood.test.ts and
// audit-pretty.test.ts), so a reader that splits lines at them keeps each record whole.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AuditLog } from '../../../node/audit/index.js';
import { tempDir } from '../../helpers/temp-dirs.js';

const record = { action: 'revocation.add', actor: { kind: 'file_watch' }, outcome: 'ok', detail: { value: 'a\u2028b\u2029c' } } as const;

describe('audit records with U+2028/U+2029', () => {
  it('the audit file gets them escaped: one line per record, the value read back whole', () => {
    const file = join(tempDir('portcullis-audit-sep-'), 'audit.log');
    const log = AuditLog.open({ file }, { write: () => true });
    log.record(record);
    log.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toMatch(/[\u2028\u2029]/);
    expect(text.split('\n').filter((l) => l !== '')).toHaveLength(1);
    expect(JSON.parse(text).detail.value).toBe('a\u2028b\u2029c');
  });

});
