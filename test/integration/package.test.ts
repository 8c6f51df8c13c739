import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, cp, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentHandle, tempDir, cleanupAll, findPids } from '../helpers/agents.ts';
import { waitFor } from '../helpers/wait.ts';

// `npm run package` end to end: the .debs' control data and files, the unit, the runtimes'
// architecture, and the amd64 package installed into a clean Debian root (no Node in it) where
// `warren --version` and a single-node agent run. Needs root (chroot, mounts) and, the first time,
// the Debian mirror (scripts/test-root.sh builds the root once, ~1.5 min, into /var/cache).
const ROOT = new URL('../..', import.meta.url).pathname;
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const BIND = '127.63.0.20';
const execFileP = promisify(execFile);
let out = '';
const debOf = (arch: string) => join(out, `warren_${VERSION}_${arch}.deb`);

async function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await execFileP(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeout ?? 60_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

async function ok(cmd: string, args: string[], opts?: { env?: NodeJS.ProcessEnv; timeout?: number }): Promise<string> {
  const r = await sh(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}${r.stdout}`);
  return r.stdout + r.stderr;
}

before(async () => {
  out = await tempDir('warren-package-debs-');
  // xz level 0: the same package, built ~4x faster than a release's
  const built = await ok('node', ['--import', 'tsx', join(ROOT, 'scripts/package.ts'), '--out', out], { env: { ...process.env, WARREN_PKG_XZ_LEVEL: '0' }, timeout: 600_000 });
  assert.match(built, /warren_.*_amd64\.deb/);
});

after(cleanupAll);

test('package: both .debs carry the control fields, the runtime, the bundle, the unbundled packages and the unit', { timeout: 120_000 }, async () => {
  for (const arch of ['amd64', 'arm64']) {
    const fields = await ok('dpkg-deb', ['-f', debOf(arch)]);
    assert.match(fields, /^Package: warren$/m);
    assert.match(fields, new RegExp(`^Version: ${VERSION.replace(/\./g, '\\.')}$`, 'm'));
    assert.match(fields, new RegExp(`^Architecture: ${arch}$`, 'm'));
    const depends = /^Depends: (.*)$/m.exec(fields)?.[1];
    assert.ok(depends?.split(', ').includes('docker.io (>= 20.10) | docker-ce'), depends);
    assert.ok(depends?.split(', ').includes('etcd-server (>= 3.4)'), depends);
    assert.ok(Number(/^Installed-Size: (\d+)$/m.exec(fields)?.[1]) > 50_000, 'Installed-Size in KiB, the runtime included');
    const listing = (await ok('dpkg-deb', ['-c', debOf(arch)])).trim().split('\n');
    const files = new Map(listing.map((l) => {
      const cols = l.split(/\s+/);
      return [cols[5]!, { mode: cols[0]!, owner: cols[1]! }];
    }));
    for (const [path, mode] of [
      ['./usr/bin/warren', '-rwxr-xr-x'],
      ['./usr/lib/warren/runtime/node', '-rwxr-xr-x'],
      ['./lib/systemd/system/warren.service', '-rw-r--r--'],
      ['./usr/lib/warren/dist/main.mjs', '-rw-r--r--'],
      ['./usr/lib/warren/dist/polyfill.mjs', '-rw-r--r--'],
      ['./usr/lib/warren/dist/proxy-worker.mjs', '-rw-r--r--'],
      ['./usr/lib/warren/package.json', '-rw-r--r--'],
      ['./usr/lib/warren/node_modules/etcd3/package.json', '-rw-r--r--'],
      ['./usr/lib/warren/node_modules/dockerode/package.json', '-rw-r--r--'],
      ['./usr/lib/warren/node_modules/@peculiar/x509/package.json', '-rw-r--r--'],
      ['./usr/lib/warren/node_modules/@grpc/grpc-js/build/src/index.js', '-rw-r--r--'],
      ['./usr/share/doc/warren/copyright', '-rw-r--r--'],
    ]) {
      assert.equal(files.get(path!)?.mode, mode, `${arch}: ${path}`);
    }
    assert.ok(files.has('./etc/warren/hooks/'), 'the system hook directory');
    assert.ok([...files.values()].every((f) => f.owner === 'root/root'), 'every file owned by root');
    // no addon built for the build machine: only the prebuilt one of the package's architecture
    const npmArch = arch === 'amd64' ? 'x64' : 'arm64';
    assert.deepEqual([...files.keys()].filter((p) => p.endsWith('.node')), [`./usr/lib/warren/node_modules/@napi-rs/xattr-linux-${npmArch}-gnu/xattr.linux-${npmArch}-gnu.node`], 'only the arch\'s prebuilt addon');
    assert.ok(![...files.keys()].some((p) => p.startsWith('./var/') || p === './etc/default/warren'), 'no state, no config file: postinst makes /etc/default/warren');
    const control = await ok('dpkg-deb', ['-I', debOf(arch)]);
    for (const s of ['postinst', 'prerm', 'postrm']) assert.match(control, new RegExp(`\\s${s}\\s`), s);
  }
});

test('package: the runtime and the native addon are built for the package\'s architecture', { timeout: 60_000 }, async () => {
  for (const [arch, kind] of [['amd64', /ELF 64-bit LSB .*x86-64/], ['arm64', /ELF 64-bit LSB .*ARM aarch64/]] as const) {
    const dir = await tempDir(`warren-package-${arch}-`);
    await ok('dpkg-deb', ['-x', debOf(arch), dir]);
    assert.match(await ok('file', ['-b', join(dir, 'usr/lib/warren/runtime/node')]), kind);
    const npmArch = arch === 'amd64' ? 'x64' : 'arm64';
    assert.match(await ok('file', ['-b', join(dir, `usr/lib/warren/node_modules/@napi-rs/xattr-linux-${npmArch}-gnu/xattr.linux-${npmArch}-gnu.node`)]), kind, 'the xattr addon too');
  }
});

test('package: systemd-analyze verify accepts the unit, with the directives the service needs', { timeout: 60_000 }, async () => {
  const dir = await tempDir('warren-package-unit-');
  await ok('dpkg-deb', ['-x', debOf('amd64'), dir]);
  // verify resolves the unit's dependencies (sysinit.target, docker.service) in the same root
  await cp('/lib/systemd/system', join(dir, 'lib/systemd/system'), { recursive: true, force: false, errorOnExist: false });
  const r = await sh('systemd-analyze', ['verify', `--root=${dir}`, 'warren.service']);
  // systemd-analyze prints a bad directive and carries on with exit 0: any output is a finding
  assert.equal(r.code, 0, r.stderr);
  assert.equal((r.stdout + r.stderr).trim(), '');
  const unit = await readFile(join(dir, 'lib/systemd/system/warren.service'), 'utf8');
  for (const line of ['Restart=always', 'KillMode=mixed', 'StateDirectory=warren', 'AmbientCapabilities=CAP_NET_BIND_SERVICE', 'EnvironmentFile=-/etc/default/warren', 'StandardOutput=journal', 'After=network-online.target docker.service', 'Wants=network-online.target docker.service', 'ExecStart=/usr/bin/warren agent --data-dir /var/lib/warren $WARREN_ARGS', 'ExecStopPost=/usr/bin/warren fence']) {
    assert.ok(unit.split('\n').includes(line), line);
  }
  assert.ok(!/^MemoryDenyWriteExecute=yes/m.test(unit), "V8's JIT needs writable code pages");
});

test('package: installed into a clean Debian root, it runs with no Node on PATH: --version, a single-node agent, warren up, purge', { timeout: 300_000 }, async () => {
  // the directory is the script's stdout; its progress (a fresh machine builds the root) is on stderr
  const made = await sh('bash', [join(ROOT, 'scripts/test-root.sh')], { timeout: 900_000 });
  assert.equal(made.code, 0, `scripts/test-root.sh: ${made.stderr}`);
  const cached = made.stdout.trim().split('\n').pop()!;
  const root = join(await tempDir('warren-package-root-'), 'root');
  await ok('cp', ['-a', cached, root]);
  const env = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C' };
  const inRoot = (args: string[], timeout?: number) => sh('chroot', [root, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...args], { timeout });
  const mounts: string[] = [];
  let agent: AgentHandle | undefined;
  try {
    assert.notEqual((await inRoot(['sh', '-c', 'command -v node'])).code, 0, 'the root has no node');
    // a systemctl stand-in (the root runs no systemd) that logs its calls and says etcd.service is
    // enabled, so postinst's handling of Debian's default etcd runs for real
    await mkdir(join(root, 'run/systemd/system'), { recursive: true });
    await writeFile(join(root, 'usr/local/sbin/systemctl'), '#!/bin/sh\necho "$*" >> /tmp/systemctl.log\ncase "$*" in *etcd.service*) exit 0;; *is-active*warren*) exit 3;; esac\nexit 0\n');
    await chmod(join(root, 'usr/local/sbin/systemctl'), 0o755);
    await cp(debOf('amd64'), join(root, 'tmp/warren.deb'));
    // --force-depends: docker.io is left out of the root on purpose; the agent there uses the
    // host's dockerd through its bind-mounted socket (installing docker.io would add ~100 MB to the
    // cached root for nothing). etcd-server, the other dependency, is in the root and is used.
    const install = await inRoot(['dpkg', '-i', '--force-depends', '/tmp/warren.deb'], 120_000);
    assert.equal(install.code, 0, install.stderr + install.stdout);
    assert.match(install.stderr, /docker\.io/, 'only the docker dependency is missing');
    assert.doesNotMatch(install.stderr, /etcd-server/);
    assert.match(install.stdout, /stopped and disabled Debian's default etcd\.service/);
    assert.match(install.stdout, /Start this node with: warren up/);
    const calls = await readFile(join(root, 'tmp/systemctl.log'), 'utf8');
    assert.match(calls, /^daemon-reload$/m);
    assert.match(calls, /^disable --now etcd\.service$/m);
    assert.doesNotMatch(calls, /warren/, 'installing starts no agent');
    assert.match(await readFile(join(root, 'etc/default/warren'), 'utf8'), /^WARREN_ARGS=""$/m);
    // a configured etcd (an ETCD_ setting) is left alone
    await writeFile(join(root, 'etc/default/etcd'), 'ETCD_NAME=mine\n');
    await rm(join(root, 'tmp/systemctl.log'));
    assert.match((await inRoot(['/var/lib/dpkg/info/warren.postinst', 'configure', VERSION])).stdout, /etcd\.service is configured/);
    assert.doesNotMatch(await readFile(join(root, 'tmp/systemctl.log'), 'utf8'), /disable/);

    const version = await inRoot(['warren', '--version']);
    assert.equal(version.code, 0, version.stderr);
    assert.equal(version.stdout.trim(), VERSION);

    // warren up: the flags land in /etc/default/warren, then systemctl enable --now
    const up = await inRoot(['warren', 'up', '--join', '192.0.2.7', '--', '--proxy-workers', '0']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(await readFile(join(root, 'etc/default/warren'), 'utf8').then((t) => /^WARREN_ARGS="(.*)"$/m.exec(t)?.[1]), '--join 192.0.2.7 --proxy-workers 0');
    assert.match(await readFile(join(root, 'tmp/systemctl.log'), 'utf8'), /^enable --now warren\.service$/m);
    assert.equal((await stat(join(root, 'etc/default/warren'))).mode & 0o777, 0o600, 'the join token is for root only');
    await rm(join(root, 'run/systemd/system'), { recursive: true });
    const noSystemd = await inRoot(['warren', 'up']);
    assert.equal(noSystemd.code, 1);
    assert.match(noSystemd.stderr, /^warren: systemd is not running on this machine/);
    assert.equal(noSystemd.stderr.trim().split('\n').length, 1, 'one line, no stack');

    for (const [from, to] of [['/proc', 'proc'], ['/dev', 'dev'], ['/run/docker.sock', 'run/docker.sock']] as const) {
      if (from === '/run/docker.sock') await writeFile(join(root, to), '');
      await ok('mount', ['--bind', from, join(root, to)]);
      mounts.unshift(join(root, to));
    }
    const child = spawn('/usr/bin/setpriv', ['--pdeathsig', 'SIGKILL', '--', 'chroot', root, 'env', '-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      'warren', 'agent', '--data-dir', '/var/lib/warren', '--bind', BIND, '--name', 'package', '--open', '--no-mdns', '--tailscale', 'off', '--proxy-workers', '1', '--proxy-port', '7380', '--dns-port', '7353'], { stdio: ['ignore', 'pipe', 'pipe'] });
    agent = new AgentHandle(child, BIND, join(root, 'var/lib/warren'));
    const a = agent;
    const health = await waitFor('the packaged agent healthy', async () => {
      if (!a.running) throw new Error(`agent exited with ${a.exitCode}: ${a.log().slice(-600)}`);
      const h = await a.health();
      return h.status === 200 ? h.body : undefined;
    }, 60_000);
    assert.equal(health.version, VERSION);
    assert.equal(health.etcd.role, 'voter');
    // its processes: the package's runtime, etcd from the root, and a proxy worker forked from it
    // its etcd sees the data dir as /var/lib/warren (chrooted): find it by its client URL
    const pids = findPids((cmd) => cmd.includes('--data-dir\0/var/lib/warren/etcd') && cmd.includes(`https://${BIND}:7372`));
    assert.equal(pids.length, 1, 'one etcd member');
    const etcdExe = await ok('readlink', [`/proc/${pids[0]}/exe`]);
    assert.equal(etcdExe.trim(), join(root, 'usr/bin/etcd'));
    const etcdParent = readFileSync(`/proc/${pids[0]}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[1];
    const nodeExe = await ok('readlink', [`/proc/${etcdParent}/exe`]);
    assert.equal(nodeExe.trim(), join(root, 'usr/lib/warren/runtime/node'));
    await waitFor('its proxy worker running', async () => /^warren_proxy_workers 1$/m.test(await (await fetch(`${a.api}/metrics`)).text()), 20_000);
    assert.equal(await a.stop('SIGTERM', 30_000), 0, 'a clean stop');
    agent = undefined;

    // purge: the unit and the config go, the node's data stays (unless WARREN_PURGE_DATA=1)
    const purge = await inRoot(['dpkg', '--purge', 'warren'], 120_000);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /kept \/var\/lib\/warren/);
    assert.equal(existsSync(join(root, 'lib/systemd/system/warren.service')), false);
    assert.equal(existsSync(join(root, 'etc/default/warren')), false);
    assert.equal(existsSync(join(root, 'usr/bin/warren')), false);
    assert.equal(existsSync(join(root, 'var/lib/warren/admin-token')), true, 'the data dir is kept');
  } finally {
    await agent?.stop('SIGKILL', 5000);
    for (const m of mounts) await sh('umount', [m]).then((r) => (r.code === 0 ? r : sh('umount', ['-l', m])));
    if ((await sh('grep', ['-c', root, '/proc/mounts'])).stdout.trim() === '0') await rm(root, { recursive: true, force: true });
  }
});
