// Node.js 20 lacks Promise.withResolvers (Node 22), which current js-libp2p uses.
if (!Promise.withResolvers) {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
