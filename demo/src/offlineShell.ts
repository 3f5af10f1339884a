/**
 * Registers the demo's service worker (`public/sw.js`), which keeps the last good copy of the page and its scripts
 * so that a reload works offline; the documents and the list come from IndexedDB. Resolves once the worker is
 * active (the page's files are stored), or at once where service workers are unavailable (an insecure origin).
 */
export const registerOfflineShell = async (): Promise<void> => {
  if (!('serviceWorker' in navigator)) return
  await navigator.serviceWorker.register('/sw.js')
  await navigator.serviceWorker.ready
}
