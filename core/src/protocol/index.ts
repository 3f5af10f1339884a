export * from './closeCodes.js'
export * from './messages.js'
export * from './chunking.js'
export * from './readAwarenessClients.js'
