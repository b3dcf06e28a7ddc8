// What a reference field shows: the referenced record's title ("幸福里3号楼")
// rather than its id, looked up once and remembered.
import { reactive } from 'vue'
import { api } from './api'
import { recordTitle } from './schema'

const titles = reactive(new Map<string, string>())
const asked = new Set<string>()

/** The title of a record by kind and id; the id until the lookup answers. */
export function refTitle(kind: string | undefined, id: string | null | undefined): string {
  if (!id) return ''
  if (!kind) return id
  const key = `${kind}:${id}`
  const known = titles.get(key)
  if (known !== undefined) return known || id
  if (!asked.has(key)) {
    asked.add(key)
    api
      .getRecord(kind, id)
      .then((detail) => titles.set(key, recordTitle(detail.record)))
      .catch(() => titles.set(key, ''))
  }
  return id
}

/** Tells the cache a record's title (after a save, or from a list). */
export function rememberTitle(kind: string, id: string, title: string) {
  titles.set(`${kind}:${id}`, title)
  asked.add(`${kind}:${id}`)
}

export function clearRefCache() {
  titles.clear()
  asked.clear()
}
