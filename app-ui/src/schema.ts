// The record kinds as the Rust side describes them (schema()), loaded once,
// and how a field's value reads in the worker's language.
import { shallowRef } from 'vue'
import { api, type FieldDef, type FieldType, type KindDef, type RecordData, type Value } from './api'
import { i18n, joinList, label } from './i18n'
import { age, formatDate, formatDateTime, maskIdNumber } from './format'
import { gridName } from './state'

export const schema = shallowRef<KindDef[] | null>(null)
let loading: Promise<KindDef[]> | null = null

const TYPE_ALIASES: Record<string, FieldType> = { date_time: 'datetime', grid_code: 'grid' }

/** Accepts the schema as documented, and the Rust enum's own spellings if they slip through. */
export function normalizeSchema(raw: KindDef[]): KindDef[] {
  return raw.map((k) => ({
    ...k,
    fields: k.fields.map((f) => {
      const loose = f as FieldDef & { kind?: string }
      return {
        ...f,
        type: TYPE_ALIASES[f.type] ?? f.type,
        ref_kind: f.ref_kind ?? (f.type === 'ref' ? loose.kind : undefined),
        required: Boolean(f.required),
      }
    }),
  }))
}

export function loadSchema(force = false): Promise<KindDef[]> {
  if (schema.value && !force) return Promise.resolve(schema.value)
  if (!loading || force) {
    loading = api
      .schema()
      .then((raw) => (schema.value = normalizeSchema(raw)))
      .finally(() => (loading = null))
  }
  return loading
}

export function kindDef(kind: string): KindDef | undefined {
  return schema.value?.find((k) => k.kind === kind)
}

export function fieldDef(kind: string, name: string): FieldDef | undefined {
  return kindDef(kind)?.fields.find((f) => f.name === name)
}

/** The kind's name in the current language: "人口" / "Resident". */
export function kindLabel(kind: string): string {
  return label(kindDef(kind)?.label) || kind
}

export function fieldLabel(kind: string, name: string): string {
  return label(fieldDef(kind, name)?.label) || name
}

/** The fields a person edits or reads: all but the tombstone. */
export function visibleFields(def: KindDef | undefined): FieldDef[] {
  return (def?.fields ?? []).filter((f) => f.name !== 'deleted')
}

export function choiceLabel(field: FieldDef | undefined, code: string): string {
  const c = field?.choices?.find((c) => c.code === code)
  return c ? label(c) : code
}

function isEmpty(v: Value | null | undefined): boolean {
  return v == null || v === '' || (Array.isArray(v) && v.length === 0)
}

/**
 * How a value reads: choices by their label, tags joined, yes/no, dates in
 * local time, grids by name. References are shown by the caller (they need
 * a lookup): here they are their id.
 */
export function displayValue(field: FieldDef | undefined, value: Value | null | undefined): string {
  const t = i18n.global.t
  if (isEmpty(value)) return ''
  if (!field) return Array.isArray(value) ? joinList(value) : String(value)
  switch (field.type) {
    case 'choice':
      return choiceLabel(field, String(value))
    case 'tags':
      return joinList((Array.isArray(value) ? value : [String(value)]).map((c) => choiceLabel(field, c)))
    case 'bool':
      return value === true || value === 'true' ? t('app.yes') : t('app.no')
    case 'datetime':
      return formatDateTime(String(value))
    case 'date':
      return formatDate(String(value))
    case 'grid':
      return gridName(String(value))
    case 'attachments':
      return t('record.photos', { n: Array.isArray(value) ? value.length : 1 })
    default:
      return Array.isArray(value) ? joinList(value) : String(value)
  }
}

/** A record's value of a field, shown. */
export function show(record: RecordData | null | undefined, name: string): string {
  if (!record) return ''
  return displayValue(fieldDef(record.kind, name), record[name])
}

const text = (v: Value | undefined) => (v == null ? '' : String(v))

/** What a list row calls a record: a resident by name, a building by its name or address… */
export function recordTitle(record: RecordData | null | undefined): string {
  if (!record) return ''
  switch (record.kind) {
    case 'resident':
      return text(record.name)
    case 'building':
      return text(record.name) || text(record.address)
    case 'household': {
      const address = text(record.address)
      const room = text(record.room)
      return room && !address.includes(room) ? `${address} ${room}` : address
    }
    case 'case':
      return show(record, 'category') || kindLabel('case')
    case 'task':
      return text(record.title)
    case 'visit':
      return [show(record, 'purpose'), show(record, 'visited_at').slice(0, 10)].filter(Boolean).join(' · ')
    case 'patrol':
      return [gridName(text(record.grid)), show(record, 'started_at')].filter(Boolean).join(' · ')
    case 'grid':
      return text(record.name) || text(record.code)
    default:
      return record.id
  }
}

/** The second line of a list row. */
export function recordSubtitle(record: RecordData | null | undefined): string {
  if (!record) return ''
  const parts: string[] = []
  const add = (s: string) => s && parts.push(s)
  switch (record.kind) {
    case 'resident': {
      add(show(record, 'sex'))
      const years = typeof record.birth_date === 'string' ? age(record.birth_date) : null
      if (years != null) add(i18n.global.t('registry.age', { n: years }))
      if (typeof record.id_number === 'string') add(maskIdNumber(record.id_number))
      add(show(record, 'room'))
      add(show(record, 'tags'))
      break
    }
    case 'building':
      if (record.name) add(text(record.address))
      if (record.floors != null) add(i18n.global.t('registry.floors', { n: record.floors }))
      add(show(record, 'use'))
      add(show(record, 'rental'))
      break
    case 'household':
      add(text(record.head))
      add(show(record, 'household_type'))
      add(show(record, 'tags'))
      break
    case 'case':
      add(text(record.description))
      break
    case 'task':
      add(show(record, 'task_type'))
      add(show(record, 'status'))
      break
    case 'visit':
      add(text(record.notes) || text(record.follow_up))
      break
    default:
      break
  }
  return parts.join(' · ')
}

