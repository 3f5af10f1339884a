// The demo's service worker: the page itself works offline. Network first (a deployed change shows at once), the
// last good copy when the network fails. At install it stores the page and the scripts and styles it names, so a
// reload works offline as soon as the worker is active; documents and the list come from IndexedDB, not from here.
const CACHE = 'weft-demo-shell-v1'

const shellUrls = async () => {
  const res = await fetch('/', { cache: 'no-store' })
  const html = await res.clone().text()
  const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1])
  return { res, assets }
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE)
      const { res, assets } = await shellUrls()
      await cache.put('/', res)
      await cache.addAll(assets)
      await self.skipWaiting()
    })(),
  )
})

self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()))

self.addEventListener('fetch', (event) => {
  const req = event.request
  const url = new URL(req.url)
  if (req.method !== 'GET' || url.origin !== self.location.origin) return
  event.respondWith(
    (async () => {
      try {
        const res = await fetch(req)
        if (res.ok) {
          const cache = await caches.open(CACHE)
          await cache.put(req.mode === 'navigate' ? '/' : req, res.clone())
        }
        return res
      } catch (err) {
        const cached = await caches.match(req.mode === 'navigate' ? '/' : req, {
          ignoreSearch: req.mode === 'navigate',
        })
        if (cached) return cached
        throw err
      }
    })(),
  )
})
