// The benchmark client: unmodified automerge-repo 2.5.6 clients (no storage of their own)
// driving one server through the WebSocket protocol. The same script runs against the JS
// reference server, samod-ref and passerelle-server; only the URL differs (`?token=` is
// ignored by the references). Driven by the passerelle-bench binary (docs/BENCHMARKS.md).
//
// Each sub-command prints its result as one JSON line on stdout and its progress on stderr.
// Every wait is bounded by --deadline-ms; a run that overruns it exits with status 2 saying
// what it was waiting for.
//
//   node driver.mjs w1 --url ws://ADDR/ws?token=T --docs 1000 --urls-file FILE [--wait-go]
//   node driver.mjs w2 --url ws://ADDR/ws?token=T --urls-file FILE [--concurrency 50]
//   node driver.mjs w4 --url ws://ADDR/ws?token=T --edits 200 --gap-ms 120
//   node driver.mjs w5 --url ws://ADDR/ws?token=T --clients 500
//
// w5 talks with its driver: it prints `{"phase":"baseline"}` once one client has created the
// shared document, waits for a line on stdin, connects the clients, prints
// `{"phase":"connected",...}`, and exits when stdin closes. w1 with --wait-go does the same
// before its clock starts (`{"phase":"ready"}` once connected, then a line on stdin), so that
// several drivers start together.

import { readFileSync, writeFileSync } from "node:fs"
import { createInterface } from "node:readline"
import { performance } from "node:perf_hooks"
import { parseArgs } from "node:util"
import { Repo, cbor } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const { positionals, values: opts } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    docs: { type: "string", default: "1000" },
    "urls-file": { type: "string" },
    edits: { type: "string", default: "200" },
    "gap-ms": { type: "string", default: "120" },
    clients: { type: "string", default: "500" },
    concurrency: { type: "string", default: "50" },
    "wait-go": { type: "boolean", default: false },
    "deadline-ms": { type: "string", default: "300000" },
  },
})

const started = performance.now()
let waitingFor = "start"
const log = (...parts) => console.error(`[driver +${Math.round(performance.now() - started)} ms]`, ...parts)
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

const watchdog = setTimeout(() => {
  console.error(`deadline of ${opts["deadline-ms"]} ms passed while waiting for: ${waitingFor}`)
  process.exit(2)
}, Number(opts["deadline-ms"]))
watchdog.unref()

function required(name) {
  if (!opts[name]) {
    console.error(`missing --${name}`)
    process.exit(64)
  }
  return opts[name]
}

/**
 * One client: a Repo without storage on one WebSocket, counting the payload bytes of the
 * protocol messages it sends and receives (what the server's own framing adds is the same
 * for every server, WebSocket headers excepted).
 */
function client(name) {
  const adapter = new WebSocketClientAdapter(required("url"), 1000)
  const bytes = { in: 0, out: 0 }
  const send = adapter.send.bind(adapter)
  adapter.send = message => {
    bytes.out += cbor.encode(message).byteLength
    send(message)
  }
  const receive = adapter.receiveMessage.bind(adapter)
  adapter.receiveMessage = data => {
    bytes.in += data.byteLength
    receive(data)
  }
  const peerId = `bench-${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const repo = new Repo({ network: [adapter], peerId })
  return { name, repo, adapter, bytes }
}

function disconnect(...clients) {
  for (const c of clients) c.adapter.disconnect()
}

/** Polls `check` every `every` ms until it returns a truthy value; fails at the deadline. */
async function until(what, check, every = 5) {
  waitingFor = what
  for (;;) {
    const value = check()
    if (value) return value
    await sleep(every)
  }
}

/** The server's storage id, once the handshake with it is done. */
function serverStorageId(c) {
  for (const peer of c.repo.peers) {
    const storageId = c.repo.getStorageIdOfPeer(peer)
    if (storageId) return storageId
  }
  return undefined
}

/**
 * Waits for the handshake. automerge-repo reports documents unavailable when its network is
 * not ready within 1 s, so every workload connects first and starts its clock after.
 */
const connected = c => until(`${c.name}: the handshake`, () => serverStorageId(c))

const sameHeads = (a, b) =>
  Array.isArray(a) && Array.isArray(b) && a.length === b.length && [...a].sort().join() === [...b].sort().join()

/** Whether the server's last sync message to `c` carried exactly the handle's heads. */
function serverHas(c, storageId, handle) {
  return sameHeads(handle.getSyncInfo(storageId)?.lastHeads, handle.heads())
}

/** A small document, like a form or a journal entry. */
const smallDoc = i => ({ title: `Document ${i}`, n: i, tags: ["bench", "small"], done: false })

/**
 * Workload 1: one client creates `--docs` small documents. The clock stops when the server's
 * sync messages carry the heads of every one of them (passerelle sends those only once the
 * changes are on disk; the references send them at once and save within 100 ms).
 */
async function w1() {
  const count = Number(opts.docs)
  const stdin = opts["wait-go"] ? stdinLines() : null
  const c = client("creator")
  const storageId = await connected(c)
  if (stdin) {
    emit({ phase: "ready" })
    waitingFor = "the driver's go (stdin)"
    await stdin.next()
  }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const handles = []
  for (let i = 0; i < count; i++) handles.push(c.repo.create(smallDoc(i)))
  let pending = handles
  await until(`the server acknowledges all ${count} documents`, () => {
    pending = pending.filter(h => !serverHas(c, storageId, h))
    return pending.length === 0
  })
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  writeFileSync(required("urls-file"), JSON.stringify(handles.map(h => h.url)))
  disconnect(c)
  return {
    wallMs,
    docs: count,
    bytesIn: c.bytes.in,
    bytesOut: c.bytes.out,
    // The measured part on the wall clock (ms since the epoch, to compare drivers run at
    // once) and this process's CPU time during it (every thread: the client's own cost).
    startedAt: performance.timeOrigin + t0,
    endedAt: performance.timeOrigin + t0 + wallMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }
}

/** `fn` over `items`, at most `limit` at a time; the results in order. */
async function pool(items, limit, fn) {
  const results = new Array(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i])
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/**
 * Workload 2: a second client fetches every document of `--urls-file` (`repo.find`),
 * `--concurrency` at a time, until all are ready. With all 1,000 at once the client's event
 * loop stalls long enough that the JS server's 5 s keep-alive drops it.
 */
async function w2() {
  const urls = JSON.parse(readFileSync(required("urls-file"), "utf8"))
  const c = client("fetcher")
  await connected(c)
  const before = { ...c.bytes }
  const t0 = performance.now()
  waitingFor = `find ${urls.length} documents`
  const handles = await pool(urls, Number(opts.concurrency), url => c.repo.find(url))
  const wallMs = performance.now() - t0
  const missing = handles.filter(h => h.doc()?.title === undefined).length
  if (missing > 0) throw new Error(`${missing} documents came back empty`)
  disconnect(c)
  return {
    wallMs,
    docs: urls.length,
    bytesIn: c.bytes.in - before.in,
    bytesOut: c.bytes.out - before.out,
  }
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/**
 * Workload 4: A and B hold the same document; A changes it `--edits` times, and each time
 * the clock runs from A's `change` until B's handle emits the change. The next edit comes
 * `--gap-ms` after B saw the previous one: automerge-repo's client (and the JS server) send
 * at most one sync message per document per 100 ms, so closer edits would measure that
 * throttle, not the server.
 */
async function w4() {
  const edits = Number(opts.edits)
  const gapMs = Number(opts["gap-ms"])
  const a = client("a")
  const b = client("b")
  const storageId = await connected(a)
  await connected(b)
  const handleA = a.repo.create({ counter: 0, note: "" })
  await until("the server acknowledges the document", () => serverHas(a, storageId, handleA))
  const handleB = await b.repo.find(handleA.url)
  await until("b sees the document", () => handleB.doc()?.counter === 0)
  await sleep(gapMs)

  const latencies = []
  for (let i = 1; i <= edits; i++) {
    waitingFor = `edit ${i} reaching b`
    const seen = new Promise(resolve => {
      const onChange = ({ doc }) => {
        if (doc.counter === i) {
          handleB.off("change", onChange)
          resolve(performance.now())
        }
      }
      handleB.on("change", onChange)
    })
    const t0 = performance.now()
    handleA.change(doc => {
      doc.counter = i
      doc.note = `edit ${i}`
    })
    latencies.push((await seen) - t0)
    // From B's receipt: the server's throttle counts from its last send, which is then.
    await sleep(gapMs)
  }
  disconnect(a, b)
  const sorted = [...latencies].sort((x, y) => x - y)
  return {
    edits,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1],
    meanMs: latencies.reduce((s, x) => s + x, 0) / latencies.length,
  }
}

/** Reads lines from stdin; `next()` resolves with the next line, or `null` once it closes. */
function stdinLines() {
  const lines = []
  const waiters = []
  let closed = false
  const rl = createInterface({ input: process.stdin })
  rl.on("line", line => (waiters.length ? waiters.shift()(line) : lines.push(line)))
  rl.on("close", () => {
    closed = true
    while (waiters.length) waiters.shift()(null)
  })
  return {
    next: () =>
      lines.length ? Promise.resolve(lines.shift()) : closed ? Promise.resolve(null) : new Promise(r => waiters.push(r)),
  }
}

/**
 * Workload 5: `--clients` clients, each on its own WebSocket, join and sync one shared
 * document, then stay connected and idle while the driver reads the server's memory.
 */
async function w5() {
  const count = Number(opts.clients)
  const stdin = stdinLines()
  const owner = client("owner")
  const storageId = await connected(owner)
  const handle = owner.repo.create({ title: "Shared", readers: 0 })
  await until("the server acknowledges the shared document", () => serverHas(owner, storageId, handle))
  emit({ phase: "baseline" })
  waitingFor = "the driver's go (stdin)"
  await stdin.next()

  const t0 = performance.now()
  const clients = []
  // In waves, as users arrive; a wave of 50 connects and syncs before the next starts.
  for (let first = 0; first < count; first += 50) {
    const wave = []
    for (let i = first; i < Math.min(count, first + 50); i++) wave.push(client(`c${i}`))
    await Promise.all(wave.map(connected))
    waitingFor = `wave ${first / 50}: find the shared document`
    const handles = await Promise.all(wave.map(c => c.repo.find(handle.url)))
    if (handles.some(h => h.doc()?.title !== "Shared")) throw new Error("a client did not get the document")
    clients.push(...wave)
  }
  emit({ phase: "connected", clients: clients.length, wallMs: performance.now() - t0 })
  waitingFor = "stdin to close"
  while ((await stdin.next()) !== null) {}
  disconnect(owner, ...clients)
  return { phase: "done" }
}

function emit(value) {
  process.stdout.write(`${JSON.stringify(value)}\n`)
}

const commands = { w1, w2, w4, w5 }

const command = commands[positionals[0]]
if (!command) {
  console.error(`usage: node driver.mjs ${Object.keys(commands).join("|")} --url URL [options]`)
  process.exit(64)
}
command().then(
  result => {
    emit(result)
    process.exit(0)
  },
  error => {
    console.error(`failed while waiting for: ${waitingFor}\n${error?.stack ?? error}`)
    process.exit(1)
  },
)
