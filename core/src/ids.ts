declare const brand: unique symbol

/** A nominal ("branded") string type: a `DocId` cannot be passed where a `PeerId` is expected. */
export type Brand<T, B extends string> = T & { readonly [brand]: B }

/** Identifies a document (a room, in y-websocket / y-webrtc terms). */
export type DocId = Brand<string, 'DocId'>
/** Identifies a remote peer on one transport (unique within that transport). */
export type PeerId = Brand<string, 'PeerId'>

/** Brands a string as a {@link DocId}. */
export const docId = (id: string): DocId => id as DocId
/** Brands a string as a {@link PeerId}. */
export const peerId = (id: string): PeerId => id as PeerId
