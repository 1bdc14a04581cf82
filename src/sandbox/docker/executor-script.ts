/**
 * The sandbox's command executor: a small Node program run once per sandbox
 * (`node -e EXECUTOR_SCRIPT`, one `docker exec` as the sandbox user, see sandbox-executor.ts)
 * that runs the sandbox's commands for the server, so a tool call costs a frame each way
 * instead of a `docker exec` of its own.
 *
 * Frames, both ways, as in loopback-relay.ts: type (1 byte), call id (4 bytes, big-endian),
 * payload length (4 bytes, big-endian), payload. Each call runs its command:
 *  - in its own session and process group (spawn `detached`), so at its deadline the whole group
 *    is killed with SIGKILL, and what escaped the group (setsid) is found by the call's
 *    TELECODER_EXEC_ID in /proc/<pid>/environ and killed too; a timed-out call reports 124;
 *  - keeping at most maxOutputBytes per stream, counting the rest;
 *  - reporting a death by signal n as 128 + n, like a shell.
 *
 * The executor runs as the sandbox user, so anything in the sandbox can kill it or write into
 * its pipes: the server trusts nothing it reads (bounded frames, unknown ids ignored). The server
 * is trusted: it started this program.
 *
 * Plain ES2020 CommonJS in a string, so it needs nothing but `node` in the image.
 */

import { SANDBOX_FRAMES_JS } from './frames.js';
import { WRITER_JS } from './executor-writer.js';

export const EXECUTOR_PROTOCOL_VERSION = 1;

export const ExecutorFrame = {
  /** executor → server, first frame: payload [version]. */
  HELLO: 1,
  /** server → executor: start a call; payload JSON (ExecRequest). */
  EXEC: 2,
  /** server → executor: bytes for the call's stdin (only when the request asked for stdin). */
  STDIN: 3,
  /** server → executor: the call's stdin ends. */
  STDIN_END: 4,
  /** server → executor: kill the call's processes (an abort, or the server gave up on it). */
  KILL: 5,
  /** executor → server: bytes of the call's stdout (at most maxOutputBytes in all). */
  STDOUT: 6,
  /** executor → server: bytes of the call's stderr (at most maxOutputBytes in all). */
  STDERR: 7,
  /** executor → server: the call ended; payload JSON (ExecEnd). Nothing more for that id. */
  EXIT: 8,
} as const;

/** What EXEC carries. */
export interface ExecRequest {
  /** The command; unused for a write. */
  argv: string[];
  /**
   * Instead of a command, write the STDIN bytes (`size` of them) to `path` by the rules of
   * executor-writer.ts; a refusal comes back as stderr and exit code 1.
   */
  write?: { path: string; size: number };
  cwd: string;
  /** Merged over the executor's own environment (the container's, proxy settings included). */
  env: Record<string, string>;
  timeoutMs: number;
  maxOutputBytes: number;
  /**
   * The command's TELECODER_EXEC_ID, chosen by the server so it can still kill what carries it
   * with a docker exec of its own should the executor not answer.
   */
  execId: string;
  /** Pipe STDIN frames to the command; otherwise its stdin is /dev/null. */
  stdin: boolean;
}

/** What EXIT carries. */
export interface ExecEnd {
  exitCode: number;
  timedOut: boolean;
  /** Output bytes past maxOutputBytes, counted and dropped (stdout + stderr). */
  dropped: number;
}

/** The largest frame the executor sends; the server refuses larger ones. */
export const EXECUTOR_MAX_OUTPUT_FRAME = 64 * 1024;
/** The largest frame the server sends (an EXEC whose argv is a long script). */
export const EXECUTOR_MAX_INPUT_FRAME = 16 * 1024 * 1024;

/** Lets tests and `pkill -f` find the executor's process by its command line. */
export const EXECUTOR_MARKER = 'telecoder-sandbox-executor';

export const EXECUTOR_SCRIPT = `// ${EXECUTOR_MARKER}
'use strict';
const cp = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const F = ${JSON.stringify(ExecutorFrame)};
const MAX_OUT = ${EXECUTOR_MAX_OUTPUT_FRAME};
const MAX_IN = ${EXECUTOR_MAX_INPUT_FRAME};
const EXEC_ID_ENV = 'TELECODER_EXEC_ID';
const TIMEOUT_EXIT = 124;
const out = process.stdout;

function die(message) {
  try { process.stderr.write('${EXECUTOR_MARKER}: ' + message + '\\n'); } catch (e) {}
  killAll();
  process.exit(1);
}
out.on('error', () => { killAll(); process.exit(1); });

${SANDBOX_FRAMES_JS}

${WRITER_JS}
const calls = new Map();
// The commands get the container's environment, not the executor's own tuning (sandbox-executor.ts).
const baseEnv = Object.assign({}, process.env);
delete baseEnv.UV_THREADPOOL_SIZE;

function killGroup(call) {
  if (call.pid) { try { process.kill(-call.pid, 'SIGKILL'); } catch (e) {} }
  if (!call.execId) return;
  // What left the group (setsid, a daemon) still carries the call's marker in its environment.
  const marker = Buffer.from(EXEC_ID_ENV + '=' + call.execId + '\\0');
  let pids = [];
  try { pids = fs.readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name)); } catch (e) {}
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      if (fs.readFileSync('/proc/' + pid + '/environ').indexOf(marker) !== -1) process.kill(Number(pid), 'SIGKILL');
    } catch (e) {}
  }
}
function killAll() {
  for (const call of calls.values()) killGroup(call);
}

function finish(id, call, exitCode) {
  if (call.done) return;
  call.done = true;
  clearTimeout(call.timer);
  calls.delete(id);
  const end = { exitCode: call.timedOut ? TIMEOUT_EXIT : exitCode, timedOut: call.timedOut, dropped: call.dropped };
  send(F.EXIT, id, Buffer.from(JSON.stringify(end)));
}

function output(id, call, type, chunk) {
  const room = call.max - call.kept[type];
  if (room < chunk.length) call.dropped += chunk.length - Math.max(room, 0);
  if (room <= 0) return;
  const kept = chunk.subarray(0, room);
  call.kept[type] += kept.length;
  for (let o = 0; o < kept.length; o += MAX_OUT) send(type, id, kept.subarray(o, o + MAX_OUT));
}

// A write collects its content from STDIN frames and runs once STDIN_END came (see onFrame).
function startWrite(id, request) {
  const call = { pid: 0, execId: '', max: request.maxOutputBytes, kept: {}, dropped: 0, timedOut: false, done: false, timer: undefined, child: undefined, write: request.write, chunks: [], size: 0 };
  call.kept[F.STDOUT] = 0;
  call.kept[F.STDERR] = 0;
  calls.set(id, call);
}
function finishWrite(id, call) {
  const data = Buffer.concat(call.chunks);
  call.chunks = [];
  let problem;
  if (data.length !== call.write.size) problem = 'the content arrived incomplete (' + data.length + ' of ' + call.write.size + ' bytes)';
  else {
    try { problem = writeFileNoFollow(call.write.path, data); } catch (e) { problem = String((e && e.message) || e); }
  }
  if (problem) output(id, call, F.STDERR, Buffer.from(problem + '\\n'));
  finish(id, call, problem ? 1 : 0);
}

function start(id, request) {
  if (calls.has(id)) return;
  if (request.write) return startWrite(id, request);
  const execId = String(request.execId || id + '-' + process.pid + '-' + Date.now());
  const call = { pid: 0, execId: execId, max: request.maxOutputBytes, kept: {}, dropped: 0, timedOut: false, done: false, timer: undefined, child: undefined };
  call.kept[F.STDOUT] = 0;
  call.kept[F.STDERR] = 0;
  calls.set(id, call);
  const env = Object.assign({}, baseEnv, request.env);
  env[EXEC_ID_ENV] = execId;
  let child;
  try {
    child = cp.spawn(request.argv[0], request.argv.slice(1), {
      cwd: request.cwd,
      env: env,
      detached: true,
      stdio: [request.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    return failedToStart(id, call, request, error);
  }
  call.child = child;
  call.pid = child.pid || 0;
  let started = Boolean(child.pid);
  child.on('error', (error) => {
    if (!started) failedToStart(id, call, request, error);
  });
  if (!started) return;
  if (child.stdin) child.stdin.on('error', () => {});
  child.stdout.on('data', (chunk) => output(id, call, F.STDOUT, chunk));
  child.stderr.on('data', (chunk) => output(id, call, F.STDERR, chunk));
  call.timer = setTimeout(() => {
    call.timedOut = true;
    killGroup(call);
    // Something outside the group that dropped the marker (env -i) may still hold the pipes.
    setTimeout(() => {
      child.stdout.destroy();
      child.stderr.destroy();
      finish(id, call, TIMEOUT_EXIT);
    }, 2000).unref();
  }, request.timeoutMs);
  // 'close': the command exited and nothing holds its output pipes any more (a background child
  // that keeps them open is waited for, up to the deadline, as a docker exec would).
  child.on('close', (code, signal) => {
    finish(id, call, code !== null ? code : 128 + (os.constants.signals[signal] || 9));
  });
}

// What GNU timeout reports for a command it cannot run: 127 not found, 126 found but not runnable.
function failedToStart(id, call, request, error) {
  const code = error && error.code;
  let message = String((error && error.message) || error);
  if (code === 'ENOENT') {
    let cwdMissing = false;
    try { fs.statSync(request.cwd); } catch (e) { cwdMissing = true; }
    message = cwdMissing ? 'the working directory ' + request.cwd + ' does not exist' : 'failed to run command ' + JSON.stringify(request.argv[0]) + ': No such file or directory';
  }
  output(id, call, F.STDERR, Buffer.from(message + '\\n'));
  finish(id, call, code === 'ENOENT' ? 127 : 126);
}

function onFrame(type, id, payload) {
  if (type === F.EXEC) {
    let request;
    try { request = JSON.parse(payload.toString('utf8')); } catch (e) { return die('bad request'); }
    start(id, request);
    return;
  }
  const call = calls.get(id);
  if (!call) return;
  if (type === F.STDIN) {
    if (call.write) {
      call.size += payload.length;
      if (call.size <= call.write.size) call.chunks.push(Buffer.from(payload));
    } else if (call.child && call.child.stdin) call.child.stdin.write(payload);
  } else if (type === F.STDIN_END) {
    if (call.write) finishWrite(id, call);
    else if (call.child && call.child.stdin) call.child.stdin.end();
  } else if (type === F.KILL) {
    killGroup(call);
  }
}

readFrames(MAX_IN, onFrame);
// The server closing stdin (or going away) ends the executor and every command it runs.
process.stdin.on('end', () => { killAll(); process.exit(0); });
process.stdin.on('error', () => { killAll(); process.exit(1); });

send(F.HELLO, 0, Buffer.from([${EXECUTOR_PROTOCOL_VERSION}]));
`;
