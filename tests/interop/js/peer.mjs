// A js-libp2p peer that joins a Flashback node, as docs/PROTOCOL.md says any libp2p
// implementation can: connect (TCP, noise, yamux), identify, a Kademlia query on
// /flashback/kad/1.0.0, ping, then read and publish on the offers topic.
//
// Usage: node peer.mjs <node multiaddr ending in /p2p/<peer id>> <hex of a signed object>
// Prints one JSON object per step on stdout and exits 0 once it has published the object and
// received one message from the node; prints {"step":"error"} and exits 1 otherwise.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { gossipsub } from '@libp2p/gossipsub'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { blake3 } from '@noble/hashes/blake3.js'

const TOPIC = 'flashback/1/offers'
const STEP_MS = 30000
const [target, publishHex] = process.argv.slice(2)
const hex = (bytes) => Buffer.from(bytes).toString('hex')
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const deadline = (what) =>
  new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), STEP_MS).unref())

const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    // Loopback addresses are private; the default mapper would drop them.
    dht: kadDHT({ protocol: '/flashback/kad/1.0.0', clientMode: false, peerInfoMapper: passthroughMapper }),
    pubsub: gossipsub({
      // Flashback's messages carry no libp2p signature (their objects are signed), and a
      // message's id is the blake3 hash of its data.
      globalSignaturePolicy: 'StrictNoSign',
      msgIdFn: (msg) => blake3(msg.data),
    }),
  },
})

try {
  const peer = target.split('/p2p/').pop()
  const identified = new Promise((resolve) => {
    node.addEventListener('peer:identify', (evt) => {
      if (evt.detail.peerId.toString() === peer) resolve(evt.detail)
    })
  })
  const received = new Promise((resolve) => {
    node.services.pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic === TOPIC) resolve(evt.detail)
    })
  })
  node.services.pubsub.subscribe(TOPIC)
  await node.dial(multiaddr(target))

  const id = await Promise.race([identified, deadline('identify')])
  say({ step: 'identify', agent: id.agentVersion, protocol_version: id.protocolVersion, protocols: id.protocols })

  // The DHT adds a peer whose identify lists its protocol by itself only if it was already
  // listening for that peer; add the node explicitly (the DHT pings it first).
  await node.services.dht.routingTable.add(peerIdFromString(peer))
  let kadResponse = false
  for await (const event of node.services.dht.getClosestPeers(new TextEncoder().encode('interop'), {
    signal: AbortSignal.timeout(STEP_MS),
  })) {
    if (event.name === 'PEER_RESPONSE' && event.from.toString() === peer) {
      kadResponse = true
      break
    }
  }
  if (!kadResponse) throw new Error('no Kademlia response from the node')
  say({ step: 'kad', responded: true })

  // After the routing table's own ping: rust-libp2p answers one inbound ping stream per
  // connection, and a new one closes the one before.
  say({ step: 'ping', rtt_ms: await node.services.ping.ping(multiaddr(target)) })

  await Promise.race([
    (async () => {
      while (!node.services.pubsub.getMeshPeers(TOPIC).map(String).includes(peer)) {
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })(),
    deadline('the node in our gossipsub mesh'),
  ])
  const data = Buffer.from(publishHex, 'hex')
  await node.services.pubsub.publish(TOPIC, data)
  say({ step: 'published', id: hex(blake3(data)) })

  const msg = await Promise.race([received, deadline('a message from the node')])
  say({ step: 'received', id: hex(blake3(msg.data)) })
  await node.stop()
  process.exit(0)
} catch (e) {
  say({ step: 'error', error: String(e) })
  await node.stop().catch(() => {})
  process.exit(1)
}
