// `npm run release -- <version>` (e.g. 1.0.0): freezes a release.
//
//   * writes supabase/releases/<version>.json: the version and every migration in
//     supabase/migrations with its SHA-256, in order. From then on those files never change
//     (test/schema/releases.test.ts): a deployed project that ran `supabase db push` never applies
//     an edited migration again, so every later change is a new migration that sorts after them;
//   * refuses when a migration of an earlier release was edited, renamed or removed, or when a new
//     migration sorts before the last released one (it would never run on a deployed project);
//   * sets package.json's (and package-lock.json's) version and writes
//     supabase/functions/_shared/version.ts, the version the functions report (GET /status);
//   * adds the CHANGELOG.md heading `## [<version>] - <date>` (UTC) under `## [Unreleased]` if missing.
//
// Running it again for the same version rewrites its manifest from the current migrations (the
// release is not out until its tag).

import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MIGRATIONS_DIR = path.join(REPO, 'supabase', 'migrations');
export const RELEASES_DIR = path.join(REPO, 'supabase', 'releases');
export const VERSION_FILE = path.join(REPO, 'supabase', 'functions', '_shared', 'version.ts');

export interface ReleasedMigration {
  file: string;
  sha256: string;
}

export interface ReleaseManifest {
  version: string;
  migrations: ReleasedMigration[];
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** Orders versions numerically (1.10.0 after 1.9.0). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) if (pa[i] !== pb[i]) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** The migrations as they are now, in the order `supabase db push` applies them. */
export function currentMigrations(dir = MIGRATIONS_DIR): ReleasedMigration[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.sql'))
    .sort()
    .map((file) => ({ file, sha256: sha256File(path.join(dir, file)) }));
}

/** Every release manifest, oldest version first. */
export function readReleases(dir = RELEASES_DIR): ReleaseManifest[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as ReleaseManifest)
    .sort((a, b) => compareVersions(a.version, b.version));
}

/**
 * What breaks the append-only rule, one sentence each: a released migration changed, renamed or
 * removed, or an unreleased one that sorts before (or at) the last released one.
 */
export function releaseProblems(released: ReleaseManifest[], current: ReleasedMigration[]): string[] {
  const problems: string[] = [];
  const now = new Map(current.map((m) => [m.file, m.sha256]));
  const frozen = new Set<string>();
  for (const release of released) {
    for (const m of release.migrations) {
      frozen.add(m.file);
      const hash = now.get(m.file);
      if (hash === undefined) problems.push(`${m.file} (released in ${release.version}) is missing`);
      else if (hash !== m.sha256) {
        problems.push(`${m.file} (released in ${release.version}) was edited: its SHA-256 is ${hash}, not ${m.sha256}`);
      }
    }
  }
  const last = [...frozen].sort().at(-1);
  if (last !== undefined) {
    for (const m of current) {
      if (!frozen.has(m.file) && m.file <= last) {
        problems.push(
          `${m.file} is not released but sorts before ${last}, the last released migration: a deployed project would never apply it`,
        );
      }
    }
  }
  return problems;
}

export function versionSource(version: string): string {
  return `// Written by scripts/release.ts from package.json's version; test/schema/releases.test.ts checks
// that they agree. The version the functions report (scheduler-admin GET /status, the dashboard).
export const VERSION = '${version}';
`;
}

/** The CHANGELOG with the release's heading under [Unreleased] (unchanged if it has one). */
export function withChangelogHeading(changelog: string, version: string, date: string): string {
  if (new RegExp(`^## \\[${version.replace(/\./g, '\\.')}\\]`, 'm').test(changelog)) return changelog;
  const heading = `## [${version}] - ${date}`;
  const unreleased = /^## \[Unreleased\][^\n]*\n/m.exec(changelog);
  if (!unreleased) return `${changelog.trimEnd()}\n\n${heading}\n`;
  const at = unreleased.index + unreleased[0].length;
  return `${changelog.slice(0, at)}\n${heading}\n${changelog.slice(at)}`;
}

function setJsonVersion(file: string, version: string, lock: boolean): void {
  const json = JSON.parse(readFileSync(file, 'utf8')) as { version: string; packages?: Record<string, { version?: string }> };
  json.version = version;
  if (lock && json.packages?.['']) json.packages[''].version = version;
  writeFileSync(file, JSON.stringify(json, null, 2) + '\n');
}

export function release(version: string, today = new Date()): string[] {
  if (!SEMVER.test(version)) throw new Error(`the version must be MAJOR.MINOR.PATCH, not ${JSON.stringify(version)}`);
  const earlier = readReleases().filter((r) => r.version !== version);
  const later = earlier.filter((r) => compareVersions(r.version, version) > 0);
  if (later.length > 0) throw new Error(`${later.map((r) => r.version).join(', ')} is already released, after ${version}`);
  const current = currentMigrations();
  const problems = releaseProblems(earlier, current);
  if (problems.length > 0) throw new Error(`the migrations break the release rules:\n  ${problems.join('\n  ')}`);
  const manifest: ReleaseManifest = { version, migrations: current };
  const manifestFile = path.join(RELEASES_DIR, `${version}.json`);
  writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  setJsonVersion(path.join(REPO, 'package.json'), version, false);
  setJsonVersion(path.join(REPO, 'package-lock.json'), version, true);
  writeFileSync(VERSION_FILE, versionSource(version));
  const changelogFile = path.join(REPO, 'CHANGELOG.md');
  const changelog = existsSync(changelogFile) ? readFileSync(changelogFile, 'utf8') : '# Changelog\n\n## [Unreleased]\n';
  writeFileSync(changelogFile, withChangelogHeading(changelog, version, today.toISOString().slice(0, 10)));
  return [
    `${path.relative(REPO, manifestFile)}: ${current.length} migrations, the last ${current.at(-1)?.file ?? '(none)'}`,
    `package.json, package-lock.json, ${path.relative(REPO, VERSION_FILE)}: ${version}`,
    'CHANGELOG.md: heading present',
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const version = process.argv[2];
  if (!version) {
    console.error('usage: npm run release -- <MAJOR.MINOR.PATCH>');
    process.exitCode = 2;
  } else {
    try {
      for (const line of release(version)) console.log(line);
      console.log('Now: npm run -s fmt, commit, tag v' + version + '.');
    } catch (err) {
      console.error(err instanceof Error ? err.message : String(err));
      process.exitCode = 1;
    }
  }
}
