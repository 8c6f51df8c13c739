import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { resolveAgentConfig, DEFAULT_DOMAIN, type RawAgentOptions } from '../../core/agent-config.ts';
import { messageOf } from '../../core/errors.ts';
import { defaultDataDir } from '../../system/data-dir.ts';
import { defaultNodeName, primaryAddress } from '../../system/host.ts';
import type { Agent } from './agent.ts';
import { stopOnSignal } from './stop-mode.ts';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the Warren agent on this machine (in the foreground)')
    .option('--data-dir <dir>', 'where the node keeps its identity and data (default /var/lib/warren as root, else ~/.local/share/warren)')
    .option('--name <name>', 'node name, a DNS label (default: the hostname)')
    .option('--bind <addr>', "address every port binds to (default: the machine's primary address)")
    .option('--join <hosts>', 'HOST[:PORT],... of members to join (their HTTP port, default 7370)')
    .option('--token <token>', 'join token from "warren join-token"')
    .option('--open', 'admit any machine that asks (labs and tests only)')
    .option('--no-mdns', 'do not discover peers on the LAN with mDNS')
    .option('--tailscale <mode>', 'auto|on|off: discover peers on the tailnet', 'auto')
    .option('--tailnet-admit <on|off>', 'admit machines of the same tailnet without a token (Tailscale whois)', 'on')
    .option('--tailscale-cert <on|off>', "HTTPS for this node's own *.ts.net name with Tailscale's certificate (asked of tailscaled)", 'off')
    .option('--voters <n>', 'etcd voters to keep: 3 or 5', '3')
    .option('--log-level <level>', 'trace|debug|info|warn|error|fatal|silent', 'info')
    .option('--http-port <port>', 'HTTP API, web UI and join endpoint', '7370')
    .option('--p2p-port <port>', 'libp2p', '7371')
    .option('--etcd-client-port <port>', 'etcd client', '7372')
    .option('--etcd-peer-port <port>', 'etcd peer', '7373')
    .option('--proxy-port <port>', 'HTTP reverse proxy to services (default: 80 when it can be bound, else 7380)')
    .option('--dns-port <port>', 'DNS for service names, UDP and TCP (default: 53 when it can be bound, else 7353)')
    .option('--https-port <port>', 'HTTPS for services, certificates from the cluster CA (default: 443 when it can be bound, else 7443)')
    .option('--proxy-workers <n|auto>', 'extra processes serving the reverse proxy on more cores (0 to 64; auto: one per core beyond the first, at most 3)', 'auto')
    .option('--domain <domain>', 'services answer as NAME.DOMAIN in the proxy and DNS', DEFAULT_DOMAIN)
    .option('--label <key=value>', 'a node label for placement constraints (label=KEY=VALUE); repeatable', (v: string, prev: string[] = []) => [...prev, v])
    .option('--snapshot-interval-ms <ms>', 'how often a replicated volume is snapshotted and sent to 2 other nodes (data at risk)', '2000')
    .option('--volume-reserve <size>', "keep this much of this node's disk free: a snapshot from a peer that would eat into it is refused, with the reason (e.g. 1GiB, 512MiB)", '1GiB')
    .option('--scrub-interval <duration>', 'how often every chunk this node stores is re-hashed, a bad one fetched again from a peer (e.g. 24h, 7d; off: never)', '24h')
    .option('--fence-after-ms <ms>', "without the etcd quorum this long, stop this node's replicas (they run elsewhere by then)", '8000')
    .option('--heartbeat-ms <ms>', 'failure detection: how often this node heartbeats', '250')
    .option('--suspect-after-ms <ms>', 'failure detection: silence before a peer is probed (and suspected)', '1000')
    .option('--dead-after-ms <ms>', 'failure detection: silence before a suspected peer is declared dead', '1850')
    .option('--probe-timeout-ms <ms>', 'failure detection: time allowed for a direct, then an indirect probe', '250')
    .option('--restart-grace-ms <ms>', 'after a graceful stop (SIGTERM, systemctl restart), how long the other nodes keep this node\'s services for it before moving them (0: move at once)', '30000')
    .option('--hook-timeout-ms <ms>', 'a hook (an executable in DATA_DIR/hooks or /etc/warren/hooks) running longer is killed', '30000')
    .action(async (_opts: RawAgentOptions, cmd: Command) => {
      // --data-dir is also a global option (for the other commands): take whichever was given
      const raw = cmd.optsWithGlobals<RawAgentOptions>();
      const config = resolveAgentConfig(raw, {
        dataDir: defaultDataDir(),
        name: defaultNodeName(),
        bind: primaryAddress(),
        cpus: availableParallelism(),
      });
      // commander fills defaults in, so "given" has to come from the command line itself
      config.bindExplicit = process.argv.some((a) => a === '--bind' || a.startsWith('--bind='));
      // loaded only here: the other commands need none of the agent's packages (~0.6 s of CPU)
      const { Agent } = await import('./agent.ts');
      await runAgent(new Agent(config));
    });
}

/** Runs until SIGINT/SIGTERM; a second signal forces the exit. */
async function runAgent(agent: Agent): Promise<void> {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      agent.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    agent.logger.info({ signal }, 'signal received');
    // a restart unless marked final (stop-mode.ts): the cluster holds this node's replicas for --restart-grace-ms
    stopOnSignal(agent).then(
      () => process.exit(0),
      (err) => {
        agent.logger.error({ err: messageOf(err) }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  try {
    await agent.start();
  } catch (err) {
    await agent.stop().catch(() => undefined);
    throw err;
  }
}
