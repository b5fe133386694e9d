// Real automerge-repo 2.5.6 clients against a running passerelle-server.
//
// Driven by `tests/interop.rs`: one sub-command per scenario, options as `--name value`.
// Each prints its result as one JSON line on stdout (what the Rust test asserts on; `offline`
// prints one line per phase) and logs progress on stderr (`INTEROP_TRACE=1`: every frame). Every wait is bounded; a script that overruns `--deadline-ms` (default
// 60 s) prints what it was waiting for and exits with status 2. With `--hold`, the script
// stays connected after printing its result until its stdin closes.
//
//   node interop.mjs merge  --server ws://ADDR/ws --token-a T --token-b T
//   node interop.mjs create --server ws://ADDR/ws --token T [--hold]
//   node interop.mjs find   --server ws://ADDR/ws --token T --doc automerge:...
//   node interop.mjs viewer --server ws://ADDR/ws --editor-token T --viewer-token T
//   node interop.mjs offline --server ws://ADDR/ws --token-a T --token-b T

import { parseArgs } from "node:util"
import { Repo, cbor, insertAt, splice } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const { positionals, values: opts } = parseArgs({
  allowPositionals: true,
  options: {
    server: { type: "string" },
    token: { type: "string" },
    "token-a": { type: "string" },
    "token-b": { type: "string" },
    "editor-token": { type: "string" },
    "viewer-token": { type: "string" },
    doc: { type: "string" },
    "quiet-ms": { type: "string", default: "2000" },
    "idle-ms": { type: "string", default: "1000" },
    hold: { type: "boolean", default: false },
    "deadline-ms": { type: "string", default: "60000" },
  },
})

const started = Date.now()
const deadline = started + Number(opts["deadline-ms"])
let waitingFor = "start"

function log(...parts) {
  console.error(`[interop +${Date.now() - started} ms]`, ...parts)
}

function required(name) {
  const value = opts[name]
  if (!value) {
    console.error(`missing --${name}`)
    process.exit(64)
  }
  return value
}

// The whole script is bounded: whatever hangs, the process ends with a reason.
const watchdog = setTimeout(() => {
  console.error(`deadline of ${opts["deadline-ms"]} ms passed while waiting for: ${waitingFor}`)
  process.exit(2)
}, Number(opts["deadline-ms"]))
watchdog.unref()

const repos = []

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/** A client: a Repo without storage, connected to the server as the token's user. */
function client(name, token) {
  const url = `${required("server")}?token=${encodeURIComponent(token)}`
  const adapter = new WebSocketClientAdapter(url, 1000)
  // The adapter only logs `error` frames (through `debug`); record them so scenarios can
  // show what the server said.
  const errors = []
  const frames = { in: 0, out: 0 }
  const received = {}
  const send = adapter.send.bind(adapter)
  adapter.send = message => {
    frames.out += 1
    if (process.env.INTEROP_TRACE) log(`${name} -> ${message.type}`)
    send(message)
  }
  const receive = adapter.receiveMessage.bind(adapter)
  adapter.receiveMessage = bytes => {
    frames.in += 1
    try {
      const message = cbor.decode(new Uint8Array(bytes))
      if (process.env.INTEROP_TRACE) log(`${name} <- ${message?.type}`)
      received[message?.type] = (received[message?.type] ?? 0) + 1
      if (message?.type === "error") {
        log(`${name} got an error frame: ${message.message}`)
        errors.push(message.message)
      }
    } catch {
      // The adapter itself reports undecodable frames.
    }
    receive(bytes)
  }
  const peerId = `${name}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const repo = new Repo({ network: [adapter], peerId })
  const c = { name, repo, errors, frames, received }
  repos.push(c)
  return c
}

/**
 * Waits for the handshake with the server. automerge-repo gives up on a network that is
 * not ready within 1 s and then reports documents it asks for as unavailable; on a loaded
 * machine the socket may take longer than that, and "unavailable" must mean the server said
 * so.
 */
async function connected(...clients) {
  for (const c of clients) {
    await mustUntil(`${c.name}: the handshake with the server`, () => serverStorageId(c))
  }
}

/** Polls `check` every 20 ms until it returns a truthy value or the time is up. */
async function until(what, check, ms = deadline - Date.now()) {
  waitingFor = what
  const end = Math.min(deadline, Date.now() + ms)
  for (;;) {
    const value = await check()
    if (value) {
      log(`ok: ${what}`)
      return value
    }
    if (Date.now() > end) return undefined
    await sleep(20)
  }
}

async function mustUntil(what, check) {
  const value = await until(what, check)
  if (!value) throw new Error(`timed out waiting for: ${what}`)
  return value
}

const sameHeads = (a, b) =>
  Array.isArray(a) && Array.isArray(b) && a.length === b.length && [...a].sort().join() === [...b].sort().join()

/** The server's storage id, once the handshake is done. */
function serverStorageId(c) {
  for (const peer of c.repo.peers) {
    const storageId = c.repo.getStorageIdOfPeer(peer)
    if (storageId) return storageId
  }
  return undefined
}

/**
 * Waits until the server has acknowledged every change of `handle`: its last sync message
 * carried exactly our heads. passerelle sends no sync message for changes that are not yet on
 * disk, so this is also the durability acknowledgement.
 */
async function untilServerHas(c, handle) {
  return mustUntil(`${c.name}: the server acknowledges heads ${handle.heads()}`, () => {
    const storageId = serverStorageId(c)
    return storageId && sameHeads(handle.getSyncInfo(storageId)?.lastHeads, handle.heads())
  })
}

/** `repo.find`, bounded, as data: `{state: "ready", handle}` or `{state: "unavailable", error}`. */
async function find(c, url) {
  waitingFor = `${c.name}: find ${url}`
  try {
    const handle = await c.repo.find(url)
    return { state: "ready", handle }
  } catch (error) {
    const message = String(error?.message ?? error)
    return { state: /unavailable/.test(message) ? "unavailable" : "failed", error: message }
  }
}

/**
 * Frames each client sent and received during `ms` of doing nothing. Documents that have
 * converged should be silent; a sync loop (protocol.md: stale sync state, refused changes
 * asked for again and again) shows up here.
 */
async function framesWhileIdle(clients, ms) {
  waitingFor = `${ms} ms of idling`
  const before = clients.map(c => c.frames.in + c.frames.out)
  await sleep(ms)
  return Object.fromEntries(clients.map((c, i) => [c.name, c.frames.in + c.frames.out - before[i]]))
}

const plain = doc => JSON.parse(JSON.stringify(doc))

async function merge() {
  const a = client("a", required("token-a"))
  const b = client("b", required("token-b"))
  await connected(a, b)

  const handleA = a.repo.create({ title: "Plan de mobilité", items: ["vélo"], text: "Bonjour" })
  const url = handleA.url
  handleA.change(doc => {
    doc.createdBy = "a"
    doc.count = 1
  })
  log(`a created ${url}`)
  await untilServerHas(a, handleA)

  const found = await find(b, url)
  if (found.state !== "ready") throw new Error(`b could not find ${url}: ${found.error}`)
  const handleB = found.handle
  await mustUntil("b sees a's fields", () => handleB.doc()?.createdBy === "a")
  const seenByB = plain(handleB.doc())

  // Concurrent: both change in the same tick, so neither has seen the other's change.
  handleA.change(doc => {
    doc.fromA = "changed by a"
    splice(doc, ["text"], 0, 0, "A>")
    insertAt(doc.items, 0, "tram (a)")
  })
  handleB.change(doc => {
    doc.fromB = "changed by b"
    splice(doc, ["text"], doc.text.length, 0, "<B")
    doc.items.push("bus (b)")
  })
  const concurrentHeads = { a: handleA.heads(), b: handleB.heads() }

  await mustUntil(
    "a and b converge on the same heads with both sides' edits",
    () =>
      sameHeads(handleA.heads(), handleB.heads()) &&
      handleA.doc().fromB !== undefined &&
      handleB.doc().fromA !== undefined,
  )
  await untilServerHas(a, handleA)
  await untilServerHas(b, handleB)
  const idleFrames = await framesWhileIdle([a, b], Number(opts["idle-ms"]))
  return {
    url,
    idleFrames,
    seenByB,
    concurrentHeads,
    a: { doc: plain(handleA.doc()), heads: handleA.heads(), errors: a.errors },
    b: { doc: plain(handleB.doc()), heads: handleB.heads(), errors: b.errors },
  }
}

async function create() {
  const c = client("creator", required("token"))
  await connected(c)
  const handle = c.repo.create({ title: "Registre", entries: [] })
  handle.change(doc => {
    doc.entries.push("entrée 1")
    doc.savedBeforeCrash = true
  })
  log(`created ${handle.url}`)
  await untilServerHas(c, handle)
  return { url: handle.url, doc: plain(handle.doc()), heads: handle.heads(), errors: c.errors }
}

async function findCommand() {
  const c = client("finder", required("token"))
  await connected(c)
  const found = await find(c, required("doc"))
  const seen = { errors: c.errors, received: c.received }
  if (found.state !== "ready") return { state: found.state, error: found.error, ...seen }
  return { state: "ready", doc: plain(found.handle.doc()), heads: found.handle.heads(), ...seen }
}

async function viewer() {
  const quietMs = Number(opts["quiet-ms"])
  const editor = client("editor", required("editor-token"))
  await connected(editor)
  const handleE = editor.repo.create({ title: "Compte rendu", lines: ["ligne 1"] })
  log(`editor created ${handleE.url}`)
  await untilServerHas(editor, handleE)

  const v = client("viewer", required("viewer-token"))
  await connected(v)
  const found = await find(v, handleE.url)
  if (found.state !== "ready") throw new Error(`the viewer could not read ${handleE.url}: ${found.error}`)
  const handleV = found.handle
  await mustUntil("the viewer sees the editor's document", () => handleV.doc()?.title === "Compte rendu")
  const viewerRead = plain(handleV.doc())

  // The viewer changes its own copy; the server must not accept it.
  handleV.change(doc => {
    doc.viewerWasHere = true
    doc.lines.push("ligne du lecteur")
  })
  const viewerHeads = handleV.heads()
  const viewerFramesBefore = v.frames.in + v.frames.out
  const leaked = await until(
    `the viewer's change reaching the editor (must not, within ${quietMs} ms)`,
    () => handleE.doc().viewerWasHere !== undefined,
    quietMs,
  )
  const editorAfterQuiet = plain(handleE.doc())
  const viewerFramesInQuiet = v.frames.in + v.frames.out - viewerFramesBefore

  // The editor keeps working, and the viewer still receives the editor's changes.
  handleE.change(doc => {
    doc.lines.push("ligne 2")
  })
  await untilServerHas(editor, handleE)
  const viewerGotLaterEdit = Boolean(
    await until("the viewer receives the editor's later change", () =>
      handleV.doc().lines.includes("ligne 2"),
    10_000),
  )
  const idleFrames = await framesWhileIdle([editor, v], Number(opts["idle-ms"]))
  return {
    idleFrames,
    viewerFramesInQuiet,
    url: handleE.url,
    viewerRead,
    viewerHeads,
    leaked: Boolean(leaked),
    editorAfterQuiet,
    editorFinal: plain(handleE.doc()),
    viewerFinal: plain(handleV.doc()),
    viewerGotLaterEdit,
    viewerErrors: v.errors,
    editorErrors: editor.errors,
  }
}

/** Prints one JSON line now (the final result is printed by `main`). */
function emit(value) {
  process.stdout.write(`${JSON.stringify({ ...value, elapsedMs: Date.now() - started })}\n`)
}

/**
 * Two clients stay up while the server crashes: they edit offline, and converge once the
 * server is back on the same address. Talks with the driver over stdout:
 * prints `{phase: "synced"}`, then, once both noticed the server is gone and changed the
 * document, `{phase: "changed-offline"}`; the driver restarts the server; the final result
 * follows.
 */
async function offline() {
  const a = client("a", required("token-a"))
  const b = client("b", required("token-b"))
  await connected(a, b)
  const handleA = a.repo.create({ title: "Hors ligne", notes: ["avant"] })
  await untilServerHas(a, handleA)
  const found = await find(b, handleA.url)
  if (found.state !== "ready") throw new Error(`b could not find ${handleA.url}: ${found.error}`)
  const handleB = found.handle
  await mustUntil("b sees a's document", () => handleB.doc()?.title === "Hors ligne")
  emit({ phase: "synced", url: handleA.url, heads: handleA.heads() })

  await mustUntil(
    "both clients notice that the server is gone",
    () => a.repo.peers.length === 0 && b.repo.peers.length === 0,
  )
  handleA.change(doc => {
    doc.notes.push("a, hors ligne")
    doc.a = true
  })
  handleB.change(doc => {
    doc.notes.push("b, hors ligne")
    doc.b = true
  })
  emit({ phase: "changed-offline", a: handleA.heads(), b: handleB.heads() })

  await connected(a, b)
  await mustUntil(
    "a and b converge after the server is back",
    () => sameHeads(handleA.heads(), handleB.heads()) && handleA.doc().b && handleB.doc().a,
  )
  await untilServerHas(a, handleA)
  await untilServerHas(b, handleB)
  return {
    phase: "converged",
    url: handleA.url,
    a: { doc: plain(handleA.doc()), heads: handleA.heads(), errors: a.errors },
    b: { doc: plain(handleB.doc()), heads: handleB.heads(), errors: b.errors },
  }
}

const commands = { merge, create, find: findCommand, viewer, offline }

async function main() {
  const command = commands[positionals[0]]
  if (!command) {
    console.error(`usage: node interop.mjs ${Object.keys(commands).join("|")} [--options]`)
    process.exit(64)
  }
  const result = await command()
  result.elapsedMs = Date.now() - started
  process.stdout.write(`${JSON.stringify(result)}\n`)
  if (opts.hold) {
    // Stay connected until the driver closes our stdin (it kills the server meanwhile).
    waitingFor = "stdin to close (--hold)"
    await new Promise(resolve => {
      process.stdin.on("end", resolve)
      process.stdin.on("close", resolve)
      process.stdin.resume()
    })
  }
  for (const c of repos) c.repo.networkSubsystem.adapters.forEach(adapter => adapter.disconnect())
}

main().then(
  () => process.exit(0),
  error => {
    console.error(`failed while waiting for: ${waitingFor}\n${error?.stack ?? error}`)
    process.exit(1)
  },
)
