// The command line, declared once. The fast parser (parse.ts) reads argv with
// this table on every call; yargs (help.ts) renders --help from the same table
// and is loaded only then, because loading it costs ~32 ms and the verbs that
// containerd and conmon call constantly must not pay for it.

export type OptionType = 'string' | 'boolean' | 'number' | 'array';

export interface OptionSpec {
  type: OptionType;
  alias?: string;
  describe: string;
  default?: string | boolean | number;
  choices?: string[];
}

export interface VerbSpec {
  usage: string;
  describe: string;
  options: Record<string, OptionSpec>;
  /** After this many positionals the rest is taken verbatim (exec ID CMD..., hook network up ...). */
  passthroughAfter?: number;
  /** The most positionals the verb takes (runc refuses more, and so does tsrun); unset with passthroughAfter. */
  maxArgs?: number;
}

export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  root: { type: 'string', describe: 'directory for container state (default /run/tsrun; rootless $XDG_RUNTIME_DIR/tsrun)' },
  log: { type: 'string', describe: 'append errors (and debug lines) to this file' },
  'log-format': { type: 'string', describe: 'format of --log lines', choices: ['text', 'json'], default: 'text' },
  debug: { type: 'boolean', describe: 'log what each step does' },
  'systemd-cgroup': { type: 'boolean', describe: 'use systemd to manage cgroups (not supported: refused)' },
  rootless: { type: 'string', describe: 'true, false or auto (default: rootless when not run as root)', choices: ['true', 'false', 'auto'] },
};

const pidFile: OptionSpec = { type: 'string', describe: 'write the container process\'s host pid to this file' };
const consoleSocket: OptionSpec = { type: 'string', describe: 'unix socket that receives the pty master fd (process.terminal)' };
const bundle: OptionSpec = { type: 'string', alias: 'b', describe: 'bundle directory (config.json and rootfs)', default: '.' };

export const VERBS: Record<string, VerbSpec> = {
  create: {
    usage: 'create [options] ID',
    maxArgs: 1,
    describe: 'create a container and stop it at the start barrier',
    options: {
      bundle,
      'pid-file': pidFile,
      'console-socket': consoleSocket,
      'no-pivot': { type: 'boolean', describe: 'use MS_MOVE and chroot instead of pivot_root' },
      'no-new-keyring': { type: 'boolean', describe: 'accepted for runc compatibility (no session keyring is created)' },
      'preserve-fds': { type: 'number', describe: 'pass N extra fds (3..3+N-1) to the container', default: 0 },
    },
  },
  start: { usage: 'start ID', maxArgs: 1, describe: 'start a created container', options: {} },
  state: { usage: 'state ID', maxArgs: 1, describe: 'print the state of a container as JSON', options: {} },
  kill: {
    usage: 'kill [options] ID [SIGNAL]',
    maxArgs: 2,
    describe: 'send a signal (default TERM) to the container\'s init',
    options: { all: { type: 'boolean', alias: 'a', describe: 'signal every process in the container\'s cgroup' } },
  },
  delete: {
    usage: 'delete [options] ID',
    maxArgs: 1,
    describe: 'delete a stopped container and everything made for it',
    options: { force: { type: 'boolean', alias: 'f', describe: 'kill a running or paused container first' } },
  },
  run: {
    usage: 'run [options] ID',
    maxArgs: 1,
    describe: 'create and start a container; in the foreground, wait and exit with its status',
    options: {
      bundle,
      'pid-file': pidFile,
      'console-socket': consoleSocket,
      detach: { type: 'boolean', alias: 'd', describe: 'return once the container has started' },
      keep: { type: 'boolean', describe: 'do not delete the container after it exits' },
      'no-pivot': { type: 'boolean', describe: 'use MS_MOVE and chroot instead of pivot_root' },
      'no-new-keyring': { type: 'boolean', describe: 'accepted for runc compatibility' },
      'preserve-fds': { type: 'number', describe: 'pass N extra fds to the container', default: 0 },
    },
  },
  list: {
    usage: 'list [options]',
    maxArgs: 0,
    describe: 'list containers',
    options: {
      format: { type: 'string', alias: 'f', describe: 'output format', choices: ['table', 'json'], default: 'table' },
      quiet: { type: 'boolean', alias: 'q', describe: 'print only ids' },
    },
  },
  spec: {
    usage: 'spec [options]',
    maxArgs: 0,
    describe: 'write a default config.json for a busybox rootfs',
    options: {
      bundle: { ...bundle, describe: 'directory to write config.json in' },
      net: { type: 'string', describe: 'add a network: MODE[,key=value...] (veth, macvlan, ipvlan; see examples/network)' },
      rootless: { type: 'boolean', describe: 'a config for a non-root user (a user namespace mapping only the caller)' },
    },
  },
  signals: {
    usage: 'signals [options] ID',
    maxArgs: 1,
    describe: 'decode the caught, ignored, blocked and pending signals of the container\'s PID 1',
    options: {
      pid: { type: 'number', describe: 'look at this process (its pid inside the container) instead of PID 1' },
      format: { type: 'string', describe: 'output format', choices: ['table', 'json'], default: 'table' },
    },
  },
  ps: {
    usage: 'ps [options] ID [PS-OPTIONS...]',
    passthroughAfter: 1,
    describe: 'list the host pids of the processes in the container',
    options: { format: { type: 'string', alias: 'f', describe: 'output format', choices: ['table', 'json'], default: 'table' } },
  },
  pause: { usage: 'pause ID', maxArgs: 1, describe: 'freeze every process of the container', options: {} },
  resume: { usage: 'resume ID', maxArgs: 1, describe: 'thaw a paused container', options: {} },
  features: { usage: 'features', maxArgs: 0, describe: 'print what this runtime supports (runtime-spec features.md)', options: {} },
  events: {
    usage: 'events [options] ID',
    maxArgs: 1,
    describe: 'print resource usage (--stats: once) or stream it with OOM events',
    options: {
      stats: { type: 'boolean', describe: 'print one stats object and exit' },
      interval: { type: 'string', describe: 'time between stats lines, e.g. 5s or 500ms', default: '5s' },
    },
  },
  update: {
    usage: 'update [options] ID',
    maxArgs: 1,
    describe: 'change the resource limits of a running container',
    options: {
      resources: { type: 'string', alias: 'r', describe: 'a JSON file with linux.resources, or - for stdin' },
      memory: { type: 'string', describe: 'memory limit in bytes (k, m, g suffixes allowed)' },
      'memory-swap': { type: 'string', describe: 'memory + swap limit in bytes; -1 for unlimited' },
      'memory-reservation': { type: 'string', describe: 'memory soft limit in bytes' },
      'cpu-shares': { type: 'string', alias: 'cpu-share', describe: 'relative CPU weight (v1 shares)' },
      'cpu-quota': { type: 'string', describe: 'CFS quota in microseconds per period; -1 for none' },
      'cpu-period': { type: 'string', describe: 'CFS period in microseconds' },
      'cpuset-cpus': { type: 'string', describe: 'CPUs the container may run on, e.g. 0-1' },
      'cpuset-mems': { type: 'string', describe: 'memory nodes the container may use' },
      'pids-limit': { type: 'string', describe: 'maximum number of processes; -1 or 0 for none' },
      'blkio-weight': { type: 'string', describe: 'block IO weight (10-1000)' },
    },
  },
  exec: {
    usage: 'exec [options] ID [COMMAND [ARGS...]]',
    describe: 'run a process in a running container',
    passthroughAfter: 1,
    options: {
      process: { type: 'string', alias: 'p', describe: 'a JSON file with the process (config.json\'s process object)' },
      'console-socket': consoleSocket,
      tty: { type: 'boolean', alias: 't', describe: 'give the process a pseudo-terminal' },
      detach: { type: 'boolean', alias: 'd', describe: 'do not wait for the process' },
      'pid-file': pidFile,
      env: { type: 'array', alias: 'e', describe: 'set an environment variable (NAME=VALUE), repeatable' },
      cwd: { type: 'string', describe: 'working directory in the container' },
      user: { type: 'string', alias: 'u', describe: 'uid[:gid]' },
      'additional-gids': { type: 'array', alias: 'g', describe: 'an additional gid, repeatable' },
      cap: { type: 'array', alias: 'c', describe: 'add a capability, repeatable' },
      'no-new-privs': { type: 'boolean', describe: 'set no_new_privs' },
      'preserve-fds': { type: 'number', describe: 'pass N extra fds', default: 0 },
      'process-label': { type: 'string', describe: 'accepted for runc compatibility (no SELinux support)' },
      apparmor: { type: 'string', describe: 'accepted for runc compatibility (no AppArmor support)' },
      'ignore-paused': { type: 'boolean', describe: 'allow exec into a paused container' },
    },
  },
  hook: {
    usage: 'hook network up|down [options]',
    describe: 'built-in OCI hooks; reads the container state on stdin',
    options: {},
    passthroughAfter: 1,
  },
  network: {
    usage: 'network add [options] MODE[,key=value...]',
    maxArgs: 2,
    describe: 'add a network (hooks and a network namespace) to a bundle\'s config.json',
    options: { bundle },
  },
  demo: {
    usage: 'demo NAME|all [options]',
    passthroughAfter: 1,
    describe: 'reproduce a container behaviour live and explain it',
    options: {
      json: { type: 'boolean', describe: 'print the results as JSON' },
      svg: { type: 'string', describe: 'write a bar chart of the results to this file' },
      quick: { type: 'boolean', describe: 'shorter runs (for tests)' },
    },
  },
};
