import type { Awareness } from 'y-protocols/awareness'

/** The awareness state field in which a peer announces its schema. */
export const SCHEMA_AWARENESS_FIELD = 'weftSchema'

/** A collaborator's announced schema version. */
export interface CollaboratorVersion {
  /** The collaborator's Yjs clientID. */
  readonly clientID: number
  /** The schema version its app writes. */
  readonly version: number
}

/** Puts `{ name, version }` of `schema` into this peer's awareness state, so collaborators can see it. */
export const announceSchema = (
  awareness: Awareness,
  schema: { readonly name: string; readonly version: number },
): void => {
  awareness.setLocalStateField(SCHEMA_AWARENESS_FIELD, { name: schema.name, version: schema.version })
}

/** Versions announced by other peers for schema `name` (malformed announcements are ignored). */
export const collaboratorVersions = (awareness: Awareness, name: string): CollaboratorVersion[] => {
  const out: CollaboratorVersion[] = []
  for (const [clientID, state] of awareness.getStates()) {
    if (clientID === awareness.clientID) continue
    const announced = (state as Record<string, unknown>)[SCHEMA_AWARENESS_FIELD] as
      Record<string, unknown> | undefined
    if (typeof announced !== 'object' || announced === null) continue
    if (
      announced.name !== name ||
      typeof announced.version !== 'number' ||
      !Number.isSafeInteger(announced.version)
    )
      continue
    out.push({ clientID, version: announced.version })
  }
  return out
}

/** Collaborators whose app uses a newer version of `schema` ("a collaborator uses a newer version"). */
export const newerCollaborators = (
  awareness: Awareness,
  schema: { readonly name: string; readonly version: number },
): CollaboratorVersion[] =>
  collaboratorVersions(awareness, schema.name).filter((c) => c.version > schema.version)
