// Records as a form holds them (the text a worker types), what a save sends,
// and the drafts that keep typed text while the worker moves about.
import { reactive } from 'vue'
import type { FieldDef, KindDef, PutValue, RecordData, Value } from './api'
import { fromDatetimeLocal, toDatetimeLocal } from './format'
import { visibleFields } from './schema'

/** A field as its input holds it: text, a list (tags, photos) or a switch. */
export type FormValue = string | string[] | boolean
export type FormValues = Record<string, FormValue>

export function isListType(field: FieldDef) {
  return field.type === 'tags' || field.type === 'attachments'
}

/** The form's value for a stored value. */
export function toFormValue(field: FieldDef, value: Value | null | undefined): FormValue {
  if (isListType(field)) return Array.isArray(value) ? [...value] : value ? [String(value)] : []
  if (field.type === 'bool') return value === true || value === 'true'
  if (value == null) return ''
  if (field.type === 'datetime') return toDatetimeLocal(String(value))
  return String(value)
}

/** The form values of a record (or of nothing, for a new one), then `prefill` on top. */
export function formValues(def: KindDef, record?: Partial<RecordData> | null, prefill: Record<string, Value> = {}): FormValues {
  const values: FormValues = {}
  for (const field of visibleFields(def)) {
    const v = field.name in prefill ? prefill[field.name] : record?.[field.name]
    values[field.name] = toFormValue(field, v)
  }
  return values
}

/** What put_record gets for a field: typed text, a list, "" to clear. */
export function toPutValue(field: FieldDef, value: FormValue): PutValue {
  if (isListType(field)) return Array.isArray(value) ? [...value] : []
  if (field.type === 'bool') return value === true ? 'true' : 'false'
  const text = typeof value === 'string' ? value : String(value)
  if (field.type === 'datetime') return text.trim() ? fromDatetimeLocal(text) : ''
  return text
}

function same(a: FormValue | undefined, b: FormValue | undefined): boolean {
  if (Array.isArray(a) || Array.isArray(b)) {
    const x = Array.isArray(a) ? [...a].sort() : []
    const y = Array.isArray(b) ? [...b].sort() : []
    return x.length === y.length && x.every((v, i) => v === y[i])
  }
  if (typeof a === 'string' || typeof b === 'string') return (a ?? '') === (b ?? '')
  return Boolean(a) === Boolean(b)
}

function isBlank(value: FormValue | undefined): boolean {
  if (Array.isArray(value)) return value.length === 0
  if (typeof value === 'boolean') return !value
  return !value || !value.trim()
}

/**
 * The fields a save sends. A new record sends every field that holds
 * something; an edit sends only what changed, so a save never rewrites (and
 * never makes conflicts on) fields the worker did not touch.
 */
export function changes(def: KindDef, initial: FormValues, current: FormValues, isNew: boolean): Record<string, PutValue> {
  const out: Record<string, PutValue> = {}
  for (const field of visibleFields(def)) {
    const now = current[field.name]
    if (now === undefined) continue
    if (isNew ? isBlank(now) : same(now, initial[field.name])) continue
    out[field.name] = toPutValue(field, now)
  }
  return out
}

/** Required fields left empty, for an early word before the store's own check. */
export function missingRequired(def: KindDef, current: FormValues, only?: string[]): FieldDef[] {
  return visibleFields(def).filter(
    (f) => f.required && f.type !== 'bool' && (!only || only.includes(f.name)) && isBlank(current[f.name]),
  )
}

// ---------------------------------------------------------------- drafts

export interface Draft {
  initial: FormValues
  values: FormValues
}

/**
 * Forms' unsaved input, by form (kind and id, or what a new record is made
 * from). Kept in memory for the app's life: leaving a form, opening another
 * tab, even the lock screen, loses nothing; a successful save or "discard"
 * drops it.
 */
const drafts = new Map<string, Draft>()

export function draftFor(key: string, make: () => Draft): Draft {
  let draft = drafts.get(key)
  if (!draft) {
    const made = make()
    draft = reactive({ initial: made.initial, values: made.values }) as Draft
    drafts.set(key, draft)
  }
  return draft
}

export function hasDraft(key: string): boolean {
  return drafts.has(key)
}

export function dropDraft(key: string) {
  drafts.delete(key)
}

export function dropAllDrafts() {
  drafts.clear()
  texts.clear()
}

/** Single texts typed outside a form (a patrol's findings) and not yet saved. */
const texts = new Map<string, string>()

export function rememberText(key: string, text: string) {
  texts.set(key, text)
}

export function recallText(key: string): string | undefined {
  return texts.get(key)
}

/** Forgets the text once it is saved, unless the worker typed on meanwhile. */
export function forgetText(key: string, saved: string) {
  if (texts.get(key) === saved) texts.delete(key)
}

/** Whether the draft holds anything the worker typed. */
export function isDirty(def: KindDef, draft: Draft): boolean {
  return visibleFields(def).some((f) => !same(draft.values[f.name], draft.initial[f.name]))
}
