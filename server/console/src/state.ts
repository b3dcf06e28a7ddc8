// Who is logged in and the reference lists every page names things with
// (grids, categories, departments), loaded once per session.
import { computed, reactive } from 'vue'
import { api, session, type Category, type Department, type GridInfo, type KindInfo, type Me, type Value } from './api'
import { i18n } from './i18n'

export const state = reactive({
  me: null as Me | null,
  grids: [] as GridInfo[],
  categories: [] as Category[],
  departments: [] as Department[],
  schema: [] as KindInfo[],
})

export const role = computed(() => state.me?.user.role ?? null)
export const isAdmin = computed(() => role.value === 'admin')
/** Admins and city-wide staff review conflicts and refused changes. */
export const isCentre = computed(() => isAdmin.value || role.value === 'staff')

export async function loadSession(): Promise<boolean> {
  if (!session.token) return false
  const [me, grids, categories, departments, schema] = await Promise.all([
    api.me(),
    api.grids(),
    api.categories(),
    api.departments(),
    api.schema(),
  ])
  Object.assign(state, { me, grids, categories, departments, schema })
  return true
}

export function forget() {
  session.token = null
  Object.assign(state, { me: null, grids: [], categories: [], departments: [], schema: [] })
}

export function gridName(code: string | null | undefined): string {
  if (!code) return '—'
  return state.grids.find((g) => g.code === code)?.name ?? code
}

function field(kind: string, name: string) {
  return state.schema.find((k) => k.kind === kind)?.fields.find((f) => f.name === name)
}

/** A field's label in the console's language (its name if unknown). */
export function fieldLabel(kind: string, name: string): string {
  const label = field(kind, name)?.label
  if (!label) return name
  return i18n.global.locale.value === 'en' ? label.en : label.zh
}

/** A value as people read it: choices and tags by their labels. */
export function valueLabel(kind: string, name: string, value: Value | undefined): string {
  if (value === null || value === undefined || value === '') return '—'
  const choices = field(kind, name)?.choices
  const english = i18n.global.locale.value === 'en'
  const one = (code: string) => {
    const choice = choices?.find((c) => c.code === code)
    return choice ? (english ? choice.en : choice.zh) : code
  }
  if (Array.isArray(value)) return value.map(one).join('、')
  if (typeof value === 'boolean') return value ? (english ? 'Yes' : '是') : english ? 'No' : '否'
  return one(String(value))
}

/** A value of a field's kind (what typed text is read as), from the schema. */
export function sampleOf(kind: string, name: string): unknown {
  switch (field(kind, name)?.type) {
    case 'tags': case 'attachments': return []
    case 'int': case 'float': return 0
    case 'bool': return false
    default: return ''
  }
}
