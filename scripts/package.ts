/**
 * npm run package: builds dist-pkg/warren_<version>_amd64.deb and _arm64.deb. Each holds the
 * bundled agent (bin/warren's esbuild bundle), the packages the bundle leaves out (etcd3's .proto
 * files, dockerode, the X.509 library), its own Node runtime (the npm registry's node-linux-<arch>,
 * fetched once with `npm pack` into a cache), a systemd unit and the maintainer scripts in packaging/.
 *   node --import tsx scripts/package.ts [--arch amd64|arm64] [--out DIR]
 *   node --import tsx scripts/package.ts --runtime-path   (prints the dir of this machine's runtime)
 * Environment: WARREN_NODE_RUNTIME (the runtime's version, default below), WARREN_PKG_CACHE
 * (where the runtimes are kept, default ~/.cache/warren/runtimes), WARREN_PKG_XZ_LEVEL (xz level).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleFiles, modulesClosure, keepModuleFile } from './package-files.ts';

const ROOT = new URL('..', import.meta.url).pathname;
/** Node 24 LTS: Node 20 reached its end of life in April 2026 */
const NODE_RUNTIME = process.env.WARREN_NODE_RUNTIME ?? '24.22.3';
/** the bundle leaves these out (see bin/warren): they ship as files, with what they need */
const EXTERNAL = ['etcd3', 'dockerode', '@peculiar/x509', 'reflect-metadata', '@napi-rs/xattr'];
/** prebuilt N-API addons come in one npm package per platform: the package's arch's is fetched */
const ADDON = /^node_modules\/@napi-rs\/xattr-/;
export const ARCHES = { amd64: { npm: 'x64', file: 'x86-64' }, arm64: { npm: 'arm64', file: 'ARM aarch64' } } as const;
type Arch = keyof typeof ARCHES;

const run = (cmd: string, args: string[], opts: { cwd?: string } = {}) => execFileSync(cmd, args, { cwd: opts.cwd ?? ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** An npm package's files (`members`: only those), from the cache or the registry (npm pack, once). */
function fetchPackage(name: string, version: string, members: string[] = []): string {
  const cache = process.env.WARREN_PKG_CACHE ?? join(homedir(), '.cache/warren/runtimes');
  const dir = join(cache, `${name.replace('/', '+')}-${version}`);
  if (!existsSync(join(dir, 'package'))) {
    mkdirSync(cache, { recursive: true });
    const tmp = mkdtempSync(join(cache, '.fetch-'));
    try {
      console.error(`package: fetching ${name}@${version} (npm pack, once)`);
      const tgz = run('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', tmp], { cwd: tmp }).trim().split('\n').pop()!;
      run('tar', ['xzf', join(tmp, tgz), '-C', tmp, ...members]);
      rmSync(dir, { recursive: true, force: true });
      cpSync(tmp, dir, { recursive: true, filter: (src) => !src.endsWith('.tgz') });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return join(dir, 'package');
}

/** The xattr addon's platform package for one architecture (its .node is checked like the runtime). */
function addonFor(arch: Arch): { dir: string; name: string } {
  const name = `@napi-rs/xattr-linux-${ARCHES[arch].npm}-gnu`;
  const meta = JSON.parse(readFileSync(join(ROOT, 'node_modules/@napi-rs/xattr/package.json'), 'utf8')) as { optionalDependencies: Record<string, string> };
  const dir = fetchPackage(name, meta.optionalDependencies[name]!);
  const binary = join(dir, `xattr.linux-${ARCHES[arch].npm}-gnu.node`);
  const kind = run('file', ['-b', binary]);
  if (!kind.includes(ARCHES[arch].file)) throw new Error(`${binary} is not an ${ARCHES[arch].file} binary: ${kind}`);
  return { dir, name };
}

/** The runtime's `node` binary for one architecture, from the cache or the registry. */
function runtimeFor(arch: Arch): { node: string; license: string } {
  const dir = fetchPackage(`node-linux-${ARCHES[arch].npm}`, NODE_RUNTIME, ['package/bin/node', 'package/LICENSE']);
  const node = join(dir, 'bin/node');
  // a runtime of the wrong architecture would install fine and fail at the first start
  const kind = run('file', ['-b', node]);
  if (!kind.includes(ARCHES[arch].file)) throw new Error(`${node} is not an ${ARCHES[arch].file} binary: ${kind}`);
  return { node, license: join(dir, 'LICENSE') };
}

function control(version: string, arch: Arch, installedKb: number): string {
  return [
    'Package: warren',
    `Version: ${version}`,
    `Architecture: ${arch}`,
    'Maintainer: Warren developers <warren@localhost>',
    `Installed-Size: ${installedKb}`,
    // the Node runtime links glibc >= 2.28 and libstdc++; the agent drives Docker and runs etcd members
    'Depends: libc6 (>= 2.28), libstdc++6, docker.io (>= 20.10) | docker-ce, etcd-server (>= 3.4)',
    'Section: admin',
    'Priority: optional',
    'Description: run home services across a handful of ordinary machines',
    ' One agent per machine: the agents find each other, form one cluster and run',
    ' containerised services (Docker) across the machines, moving them when a machine',
    ' dies. Brings its own Node.js runtime. Start it with "warren up".',
    '',
  ].join('\n');
}

function buildDeb(arch: Arch, version: string, out: string, bundle: string[]): string {
  const stage = mkdtempSync(join(tmpdir(), `warren-pkg-${arch}-`));
  try {
    const lib = join(stage, 'usr/lib/warren');
    mkdirSync(join(lib, 'dist'), { recursive: true });
    for (const f of bundle) copyFileSync(join(ROOT, 'dist', f), join(lib, 'dist', f));
    // src/version.ts reads the version from ../package.json beside dist/
    writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: 'warren', version, type: 'module', private: true }, null, 2) + '\n');
    for (const dir of modulesClosure(ROOT, EXTERNAL)) {
      if (ADDON.test(dir)) continue; // the build machine's platform package: the arch's comes next
      cpSync(join(ROOT, dir), join(lib, dir), { recursive: true, filter: (src) => keepModuleFile(src.slice(ROOT.length)) });
    }
    const addon = addonFor(arch);
    cpSync(addon.dir, join(lib, 'node_modules', addon.name), { recursive: true });
    const rt = runtimeFor(arch);
    mkdirSync(join(lib, 'runtime'));
    copyFileSync(rt.node, join(lib, 'runtime/node'));
    chmodSync(join(lib, 'runtime/node'), 0o755);
    copyFileSync(join(ROOT, 'packaging/default'), join(lib, 'default'));
    mkdirSync(join(stage, 'usr/bin'), { recursive: true });
    copyFileSync(join(ROOT, 'packaging/warren.sh'), join(stage, 'usr/bin/warren'));
    chmodSync(join(stage, 'usr/bin/warren'), 0o755);
    mkdirSync(join(stage, 'lib/systemd/system'), { recursive: true });
    copyFileSync(join(ROOT, 'packaging/warren.service'), join(stage, 'lib/systemd/system/warren.service'));
    const doc = join(stage, 'usr/share/doc/warren');
    mkdirSync(doc, { recursive: true });
    copyFileSync(join(ROOT, 'README.md'), join(doc, 'README.md'));
    writeFileSync(join(doc, 'copyright'), `Warren: MIT license.\n\nThe Node.js runtime in /usr/lib/warren/runtime:\n\n${readFileSync(rt.license, 'utf8')}`);
    mkdirSync(join(stage, 'etc/warren/hooks'), { recursive: true });

    const debian = join(stage, 'DEBIAN');
    mkdirSync(debian);
    for (const script of ['postinst', 'prerm', 'postrm']) {
      copyFileSync(join(ROOT, 'packaging', script), join(debian, script));
      chmodSync(join(debian, script), 0o755);
    }
    const installedKb = Number(run('du', ['-sk', '--exclude=DEBIAN', stage]).split('\t')[0]);
    writeFileSync(join(debian, 'control'), control(version, arch, installedKb));
    mkdirSync(out, { recursive: true });
    const deb = join(out, `warren_${version}_${arch}.deb`);
    // WARREN_PKG_XZ_LEVEL=0: the tests' fast build (~4x faster on a busy machine, ~20% bigger)
    const level = process.env.WARREN_PKG_XZ_LEVEL;
    run('dpkg-deb', ['--root-owner-group', '-Zxz', ...(level ? [`-z${level}`] : []), '--build', stage, deb]);
    return deb;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

function main(): void {
  const { values } = parseArgs({ options: { arch: { type: 'string', multiple: true }, out: { type: 'string' }, 'runtime-path': { type: 'boolean' } } });
  if (values['runtime-path']) {
    // the package's runtime for this machine, to run the project itself on it:
    // PATH="$(npm run -s package -- --runtime-path):$PATH" npm test
    console.log(dirname(runtimeFor(process.arch === 'arm64' ? 'arm64' : 'amd64').node));
    return;
  }
  const arches = (values.arch ?? Object.keys(ARCHES)) as Arch[];
  for (const a of arches) if (!(a in ARCHES)) throw new Error(`--arch must be one of ${Object.keys(ARCHES).join(', ')}, got ${a}`);
  const out = values.out ?? join(ROOT, 'dist-pkg');
  const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  // bin/warren (re)builds dist/ when a source is newer than the bundle
  run(join(ROOT, 'bin/warren'), ['--version']);
  const bundle = bundleFiles(join(ROOT, 'dist'), ['main.mjs', 'polyfill.mjs', 'proxy-worker.mjs', 'mesh-worker.mjs']);
  for (const arch of arches) {
    const started = Date.now();
    const deb = buildDeb(arch, version, out, bundle);
    console.log(`${deb} (${Math.round(Number(run('stat', ['-c', '%s', deb])) / 1e6)} MB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (err) {
    const e = err as { message: string; stderr?: string };
    process.stderr.write(`package: ${e.message.split('\n')[0]}${e.stderr ? `\n${e.stderr.trim()}` : ''}\n`);
    process.exit(1);
  }
}
