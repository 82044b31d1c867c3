// The local stack's DynamoDB: dynalite (DynamoDB's API on LevelDB) on a Unix socket.
//
//   node dynamodb.js --socket <file> [--path <LevelDB folder>]
//
// Without --path the data lives in memory (tests). The socket is reachable only through the
// emulator's front (rollcall_local.front), which checks every request first; no TCP port is opened.
// The process ends when its standard input closes: its parent's death (even by SIGKILL) stops it.
'use strict'

const fs = require('fs')
const argv = require('minimist')(process.argv.slice(2), { string: [ 'socket', 'path' ] })
const dynalite = require('dynalite')

if (!argv.socket) {
  console.error('usage: node dynamodb.js --socket <file> [--path <folder>]')
  process.exit(2)
}
try { fs.unlinkSync(argv.socket) }
catch (e) { if (e.code !== 'ENOENT') throw e }

const options = { createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }
if (argv.path) options.path = argv.path
const server = dynalite(options)
let stopping = false

function stop () {
  if (stopping) return
  stopping = true
  server.close(function (err) {
    if (err) console.error('dynamodb: ' + err.message)
    process.exit(err ? 1 : 0)
  })
  setTimeout(function () { process.exit(1) }, 10000).unref()
}

process.umask(0o077)
server.listen(argv.socket, function () {
  fs.chmodSync(argv.socket, 0o600)
  process.stdout.write('ready\n')
})
process.stdin.on('end', stop)
process.stdin.on('error', stop)
process.stdin.resume()
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
