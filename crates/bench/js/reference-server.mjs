// The JS reference server of passerelle's benchmarks (docs/BENCHMARKS.md): what the
// automerge-repo-sync-server runs, without express around it. A Repo with NodeFS storage and
// a WebSocket server adapter; like the sync server, it announces no document to clients
// (`sharePolicy: false`) and only answers what they ask for. No authentication: the
// `?token=` the benchmark client sends is ignored, and any path is accepted.
//
//   node reference-server.mjs --listen 127.0.0.1:PORT --data DIR

import { parseArgs } from "node:util"
import { WebSocketServer } from "ws"
import { Repo } from "@automerge/automerge-repo"
import { WebSocketServerAdapter } from "@automerge/automerge-repo-network-websocket"
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs"

const { values: opts } = parseArgs({
  options: { listen: { type: "string" }, data: { type: "string" } },
})
if (!opts.listen || !opts.data) {
  console.error("usage: node reference-server.mjs --listen HOST:PORT --data DIR")
  process.exit(64)
}
const separator = opts.listen.lastIndexOf(":")
const host = opts.listen.slice(0, separator)
const port = Number(opts.listen.slice(separator + 1))

const socket = new WebSocketServer({ host, port })
const repo = new Repo({
  network: [new WebSocketServerAdapter(socket)],
  storage: new NodeFSStorageAdapter(opts.data),
  peerId: `reference-server-${process.pid}`,
  sharePolicy: async () => false,
})
socket.on("listening", () => console.error(`reference server listening on ${opts.listen}`))

const stop = () => {
  socket.close()
  repo.shutdown().finally(() => process.exit(0))
}
process.on("SIGTERM", stop)
process.on("SIGINT", stop)
