// The README's CLI block and each command's `--help` name the same flags: a flag the CLI takes
// that the README never shows is undiscoverable, one the README shows that the CLI lacks fails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, runCli } from '../../helpers/proxy-process.js';

const COMMANDS = ['dev', 'serve', 'check-config', 'explain', 'revoke', 'policy', 'cluster-demo', 'bench', 'demo-auth', 'demo-echo'];

function flags(text: string): Set<string> {
  return new Set([...text.matchAll(/(?<![\w-])--[a-z][a-z-]*/g)].map((m) => m[0]).filter((f) => f !== '--help'));
}

const helps = new Map<string, ReturnType<typeof runCli>>();
/** `portcullis [cmd] --help`, run once per file: the cases below read the same outputs (each still runs what it needs on its own). */
function help(cmd?: string): ReturnType<typeof runCli> {
  const key = cmd ?? '';
  if (!helps.has(key)) helps.set(key, runCli(cmd === undefined ? ['--help'] : [cmd, '--help']));
  return helps.get(key)!;
}

function readmeCliBlock(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## CLI\n');
  expect(start, 'README has a "## CLI" section').toBeGreaterThan(0);
  const open = readme.indexOf('```\n', start);
  return readme.slice(open + 4, readme.indexOf('```', open + 4));
}

describe('README CLI block vs --help', () => {
  it('every command in the block has its flags in its --help, and every --help flag is in the block', async () => {
    const block = readmeCliBlock();
    const problems: string[] = [];
    // every --help at once (independent processes), compared in COMMANDS order
    const outs = await Promise.all(COMMANDS.map((cmd) => help(cmd)));
    for (const [i, cmd] of COMMANDS.entries()) {
      // a command's entry is its line plus the indented continuation lines right after it
      const at = block.split('\n').findIndex((l) => l.startsWith(`portcullis ${cmd} `));
      if (at < 0) { problems.push(`${cmd}: not in the README CLI block`); continue; }
      const entry = [block.split('\n')[at]];
      for (const l of block.split('\n').slice(at + 1)) { if (!/^\s/.test(l)) break; entry.push(l); }
      const r = outs[i]!;
      expect(r.code, `${cmd} --help`).toBe(0);
      const inHelp = flags(r.stdout);
      const inReadme = flags(entry.join('\n'));
      for (const f of inHelp) if (!inReadme.has(f)) problems.push(`${cmd}: ${f} is in --help, not in the README`);
      for (const f of inReadme) if (!inHelp.has(f)) problems.push(`${cmd}: ${f} is in the README, not in --help`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it('the Benchmarks table has a row for every scenario bench --help lists, and no other', async () => {
    const bench = (await help('bench')).stdout;
    const listed = [...bench.slice(bench.indexOf('Scenarios')).matchAll(/^ {2}([a-z0-9-]+) {2,}/gm)].map((m) => m[1]!).sort();
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Benchmarks\n'), readme.indexOf('\n## ', readme.indexOf('\n## Benchmarks\n') + 1));
    const rows = [...section.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]!).sort();
    expect(listed.length).toBeGreaterThan(10);
    expect(rows).toEqual(listed);
  });

  it('the README block, the top-level --help and this test name the same commands (a new command cannot go undocumented)', async () => {
    const top = (await help()).stdout;
    const section = top.slice(top.indexOf('Commands:'), top.indexOf('\n\n', top.indexOf('Commands:')));
    const inHelp = [...section.matchAll(/^ {2}([a-z][a-z-]*)(?: \| ([a-z][a-z-]*))?/gm)].flatMap((m) => m.slice(1).filter((x) => x !== undefined)).sort();
    const inReadme = [...new Set([...readmeCliBlock().matchAll(/^portcullis ([a-z][a-z-]*)/gm)].map((m) => m[1]!))].sort();
    expect(inHelp).toEqual([...COMMANDS].sort());
    expect(inReadme).toEqual([...COMMANDS].sort());
  });

  it('the top-level --help names every command with the flags of its own --help', async () => {
    // dev and revoke too: the top-level line for dev said `dev` alone while the README's says `dev [--port N]`
    const cmds = ['dev', 'serve', 'check-config', 'explain', 'revoke', 'cluster-demo', 'bench'];
    const [topHelp, ...owns] = await Promise.all([help(), ...cmds.map((cmd) => help(cmd))]);
    const top = topHelp!.stdout;
    const problems: string[] = [];
    for (const [i, cmd] of cmds.entries()) {
      const line = top.split('\n').find((l) => l.trimStart().startsWith(`${cmd} `));
      if (line === undefined) { problems.push(`${cmd}: missing`); continue; }
      const own = owns[i]!.stdout.split('\n')[0]!;
      for (const f of flags(own)) if (!flags(line).has(f)) problems.push(`${cmd}: ${f} missing from the top-level line`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it('every command answers -h as it answers --help (portcullis -h does)', async () => {
    // before, `portcullis dev -h` (and serve, check-config, explain, cluster-demo, bench, demo-*) exited 2
    // "Unknown option '-h'", and `policy -h` "unknown subcommand"; only revoke took it
    const [longs, shorts] = await Promise.all([Promise.all(COMMANDS.map((cmd) => help(cmd))), Promise.all(COMMANDS.map((cmd) => runCli([cmd, '-h'])))]);
    const problems: string[] = [];
    for (const [i, cmd] of COMMANDS.entries()) {
      const s = shorts[i]!;
      if (s.code !== longs[i]!.code || s.stdout !== longs[i]!.stdout) problems.push(`${cmd} -h: exit ${s.code}, ${JSON.stringify((s.stdout + s.stderr).split('\n')[0])}`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it("every flag of a command's Usage line is explained below it in its --help", async () => {
    // explain's --help named --config and --host in its Usage line and said nothing more of them: a
    // newcomer could not learn from it what --host changes, nor that explain needs --config (check-config does not)
    const outs = await Promise.all(COMMANDS.map((cmd) => help(cmd)));
    const problems: string[] = [];
    for (const [i, cmd] of COMMANDS.entries()) {
      const text = outs[i]!.stdout;
      const blank = text.indexOf('\n\n');
      expect(blank, `${cmd} --help has a Usage block and text after it`).toBeGreaterThan(0);
      const described = flags(text.slice(blank));
      for (const f of flags(text.slice(0, blank))) if (!described.has(f)) problems.push(`${cmd}: ${f} is in the Usage line, never explained`);
    }
    expect(problems).toEqual([]);
  }, 60_000);

  it("check-config on the README's minimal config as written, without its admin token: the variable named, and the file said valid with --no-env offered", async () => {
    // before, a newcomer validating the example read "invalid config … 1 error(s)" and nothing said the file was fine
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('A minimal config:\n\n```yaml\n');
    expect(at, 'README: the block after "A minimal config:"').toBeGreaterThan(0);
    const body = readme.slice(at + 'A minimal config:\n\n```yaml\n'.length, readme.indexOf('```', at + 30));
    const dir = mkdtempSync(join(tmpdir(), 'pc-readme-minimal-'));
    const good = join(dir, 'portcullis.yaml');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(good, body);
    writeFileSync(bad, body.replace('upstream: orders\n', 'upstream: ordrs\n'));
    const noToken = { PORTCULLIS_ADMIN_TOKEN: '' };
    const [env, fileAlone, both] = await Promise.all([runCli(['check-config', good], noToken), runCli(['check-config', '--no-env', good], noToken), runCli(['check-config', bad], noToken)]);
    const hint = "the file itself is valid: the errors above are the environment's (set them as serve needs them; check-config --no-env FILE checks the file alone)";
    expect(env.code, env.stderr).toBe(2);
    expect(env.stderr).toContain('admin.token_env: environment variable PORTCULLIS_ADMIN_TOKEN');
    expect(env.stderr.trimEnd().split('\n').at(-1)).toBe(hint);
    expect(fileAlone.code, fileAlone.stderr).toBe(0);
    // before: "(2 routes, 1 upstreams, 1 issuers; …)" for the README's own example
    expect(fileAlone.stdout).toBe(`ok: ${good} (2 routes, 1 upstream, 1 issuer; environment not checked)\n`);
    // a file error as well: the hint would mislead, so none
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('unknown upstream "ordrs"');
    expect(both.stderr).not.toContain('the file itself is valid');
  }, 60_000);

  it("Set-up says how to run `portcullis` in a checkout, where npm install puts no bin on the PATH, and its line works as written", async () => {
    // before, every `portcullis …` line of the README failed in a fresh clone with "portcullis: command not found"
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const setup = readme.slice(readme.indexOf('## Set-up'), readme.indexOf('\n## What it does'));
    const alias = /`(alias portcullis="node \$PWD\/([^"]+)")`/.exec(setup.replace(/\n/g, ' '));
    expect(alias, 'README Set-up: an `alias portcullis="node $PWD/…"` line').not.toBeNull();
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: { portcullis: string } };
    expect(alias![2]).toBe(pkg.bin.portcullis);
    const bin = await runCli(['--version']); // builds dist/ first when it is stale
    const out = execFileSync('bash', ['-c', `shopt -s expand_aliases\n${alias![1]}\nportcullis --version`], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect(out).toMatch(new RegExp(`^portcullis ${pkg.version.replace(/\./g, '\\.')} \\(node v`));
    expect(out).toBe(bin.stdout);
  }, 60_000);
});
