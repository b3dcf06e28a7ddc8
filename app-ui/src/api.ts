// The one door to the Rust side: every command of docs/app.md, typed, and the
// two events. Nothing else in the UI calls `invoke` or `listen`.
import { invoke } from '@tauri-apps/api/core'
import { listen, type UnlistenFn } from '@tauri-apps/api/event'

// ---------------------------------------------------------------- types

export type Phase = 'key_error' | 'enroll' | 'set_pin' | 'locked' | 'ready'
export type Lang = 'zh' | 'en'

export interface Status {
  phase: Phase
  user_name?: string | null
  server?: string | null
  device_number?: number | null
  scope?: string[] | null
  key_store?: 'secret_service' | 'key_file' | string | null
  retry_at_ms?: number | null
  error?: string | null
  /** Prefills the server address on the enroll screen (GRIDWORK_SERVER). */
  default_server?: string | null
}

export interface Label {
  zh: string
  en: string
}

export interface Choice {
  code: string
  zh: string
  en: string
}

export type FieldType =
  | 'text'
  | 'int'
  | 'float'
  | 'bool'
  | 'date'
  | 'datetime'
  | 'choice'
  | 'tags'
  | 'id_number'
  | 'phone'
  | 'grid'
  | 'ref'
  | 'attachments'

export interface FieldDef {
  name: string
  label: Label
  type: FieldType
  required: boolean
  max?: number
  min?: number
  choices?: Choice[]
  ref_kind?: string
}

export interface KindDef {
  kind: string
  label: Label
  fields: FieldDef[]
}

export interface Grid {
  id: string
  code: string
  name: string
  level: string
  parent: string | null
  boundary: string | null
  in_scope: boolean
}

/** A field's value as stored: text, number, boolean, or a list of strings. */
export type Value = string | number | boolean | string[]

/** A record: `{id, kind, field: value, …}`; empty fields are absent. */
export interface RecordData {
  id: string
  kind: string
  [field: string]: Value | undefined
}

export interface Version {
  value: Value | null
  writer: number
  at_ms: number
}

export interface FieldHistory {
  name: string
  value: Value | null
  writer: number
  writer_is_me: boolean
  at_ms: number
  conflicts: Version[]
}

export interface Refused {
  at_ms: number
  id: string
  kind: string
  code: string
  field: string | null
  message: string
  message_zh: string
}

export interface RecordDetail {
  record: RecordData
  fields: FieldHistory[]
  refused: Refused[]
}

/** A case of today(), with the time left to its deadline (negative when overdue). */
export interface CaseDue extends RecordData {
  due_in_ms?: number
}

export interface Today {
  tasks: RecordData[]
  cases: CaseDue[]
  follow_ups: RecordData[]
  patrol: RecordData | null
  counts: Record<string, number>
}

export interface Photo {
  sha256: string
  width: number
  height: number
  bytes: number
}

export interface ErrorBody {
  code: string
  message: string
  message_zh: string
  field?: string | null
  attempts_left?: number | null
  retry_at_ms?: number | null
}

export interface SyncProgress {
  phase: string
  pushed?: number
  pending?: number
  pulled?: number
  [key: string]: unknown
}

export interface SyncState {
  running: boolean
  online: boolean
  last_success_ms: number | null
  last_attempt_ms: number | null
  pending_records: number
  pending_photos: number
  last_error: ErrorBody | null
  progress: SyncProgress | null
  refused: Refused[]
  conflicts: number
  /** Why the last photo upload did not finish (the records may have synced). */
  photo_error?: ErrorBody | null
  /** Edits held back for tomorrow: the day's budget was sent. */
  held_back?: ErrorBody | null
}

export interface Conflict {
  kind: string
  id: string
  field: string
  winner: Version
  losers: Version[]
}

/** Field values as put_record takes them: typed text, lists, "" or null to clear. */
export type PutValue = string | string[] | null

export interface ListQuery {
  kind: string
  grid?: string
  building?: string
  household?: string
  after?: string
  limit?: number
}

// ---------------------------------------------------------------- errors

/** What every failed command throws: the Rust side's error object, kept whole. */
export class CommandError extends Error implements ErrorBody {
  code: string
  message_zh: string
  field: string | null
  attempts_left: number | null
  retry_at_ms: number | null

  constructor(body: ErrorBody) {
    super(body.message)
    this.name = 'CommandError'
    this.code = body.code
    this.message_zh = body.message_zh || body.message
    this.field = body.field ?? null
    this.attempts_left = body.attempts_left ?? null
    this.retry_at_ms = body.retry_at_ms ?? null
  }
}

/** Turns whatever `invoke` threw (an error object, a plain string, an Error) into a CommandError. */
export function toCommandError(thrown: unknown): CommandError {
  if (thrown instanceof CommandError) return thrown
  if (thrown && typeof thrown === 'object' && 'code' in thrown) {
    const body = thrown as Partial<ErrorBody>
    const message = String(body.message ?? body.message_zh ?? body.code)
    return new CommandError({
      code: String(body.code),
      message,
      message_zh: String(body.message_zh ?? message),
      field: body.field ?? null,
      attempts_left: body.attempts_left ?? null,
      retry_at_ms: body.retry_at_ms ?? null,
    })
  }
  const text = thrown instanceof Error ? thrown.message : typeof thrown === 'string' ? thrown : String(thrown)
  return new CommandError({ code: 'unknown', message: text, message_zh: text })
}

/**
 * The message of an error in the worker's language. `fallback` is said when
 * the error carries no text at all.
 */
export function errorText(error: unknown, lang: Lang, fallback = ''): string {
  if (error == null) return fallback
  const e = toCommandError(error)
  const text = lang === 'zh' ? e.message_zh || e.message : e.message || e.message_zh
  return text || fallback
}

// Errors that mean "the app is no longer where the UI thinks": the UI asks
// app_status() again and routes on its phase.
const PHASE_ERRORS = new Set(['locked', 'not_enrolled', 'key_missing', 'key_wrong', 'wipe_failed'])
let onPhaseError: ((e: CommandError) => void) | null = null

/** Called with every error that changes the phase (locked, not_enrolled, key_missing). */
export function setPhaseErrorHandler(handler: ((e: CommandError) => void) | null) {
  onPhaseError = handler
}

async function call<T>(cmd: string, args?: Record<string, unknown> | Uint8Array, options?: { headers: Record<string, string> }): Promise<T> {
  try {
    return await invoke<T>(cmd, args, options)
  } catch (thrown) {
    const error = toCommandError(thrown)
    if (PHASE_ERRORS.has(error.code) && onPhaseError) onPhaseError(error)
    throw error
  }
}

/** Drops undefined members, so optional arguments are left out, not sent as null. */
function defined(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined))
}

// ---------------------------------------------------------------- commands

export const api = {
  appStatus: () => call<Status>('app_status'),
  enroll: (server: string, code: string) => call<Status>('enroll', { server, code }),
  setPin: (pin: string) => call<Status>('set_pin', { pin }),
  unlock: (pin: string) => call<Status>('unlock', { pin }),
  lock: () => call<Status>('lock'),

  schema: () => call<KindDef[]>('schema'),
  grids: () => call<Grid[]>('grids'),

  listRecords: (query: ListQuery) => call<RecordData[]>('list_records', defined({ ...query })),
  searchResidents: (text: string, limit?: number) => call<RecordData[]>('search_residents', defined({ text, limit })),
  getRecord: (kind: string, id: string) => call<RecordDetail>('get_record', { kind, id }),
  putRecord: (kind: string, fields: Record<string, PutValue>, id?: string) =>
    call<{ id: string }>('put_record', defined({ kind, id, fields })),
  deleteRecord: (kind: string, id: string) => call<Record<string, never>>('delete_record', { kind, id }),

  today: async (): Promise<Today> => normalizeToday(await call<Today>('today')),

  addPhoto: (bytes: Uint8Array, name: string) =>
    call<Photo>('add_photo', bytes, { headers: { 'x-file-name': encodeHeader(name) } }),
  photo: (sha256: string) => call<ArrayBuffer | Uint8Array | number[]>('photo', { sha256 }),

  syncNow: () => call<SyncState>('sync_now'),
  syncState: () => call<SyncState>('sync_state'),
  conflicts: (limit?: number) => call<Conflict[]>('conflicts', defined({ limit })),
}

/** HTTP header values are Latin-1: a file name in Chinese travels percent-encoded. */
function encodeHeader(name: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name)
}

/**
 * A CaseDue may come flat (the record's fields plus due_in_ms) or as
 * {record, due_in_ms}; the UI works with the flat form.
 */
export function normalizeToday(raw: Partial<Today> | null | undefined): Today {
  const cases = (raw?.cases ?? []).map((c): CaseDue => {
    const nested = (c as unknown as { record?: RecordData }).record
    const due = typeof c.due_in_ms === 'number' ? c.due_in_ms : undefined
    return { ...(nested ?? c), due_in_ms: due }
  })
  return {
    tasks: raw?.tasks ?? [],
    cases,
    follow_ups: raw?.follow_ups ?? [],
    patrol: raw?.patrol ?? null,
    counts: raw?.counts ?? {},
  }
}

/** The bytes of a photo, as an object URL for an <img>. The caller revokes it. */
export async function photoUrl(sha256: string): Promise<string> {
  const raw = await api.photo(sha256)
  const bytes = raw instanceof ArrayBuffer ? new Uint8Array(raw) : raw instanceof Uint8Array ? raw : Uint8Array.from(raw)
  return URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'image/jpeg' }))
}

// ---------------------------------------------------------------- events

export function onSyncState(handler: (state: SyncState) => void): Promise<UnlistenFn> {
  return listen<SyncState>('sync-state', (event) => handler(event.payload))
}

export function onRevoked(handler: () => void): Promise<UnlistenFn> {
  return listen('revoked', () => handler())
}
