// Who is logged in and the reference lists every page names things with
// (grids, categories, departments), loaded once per session.
import { computed, reactive } from 'vue'
import { api, session, type Category, type Department, type GridInfo, type Me } from './api'

export const state = reactive({
  me: null as Me | null,
  grids: [] as GridInfo[],
  categories: [] as Category[],
  departments: [] as Department[],
})

export const role = computed(() => state.me?.user.role ?? null)
export const isAdmin = computed(() => role.value === 'admin')
/** Admins and city-wide staff review conflicts and refused changes. */
export const isReviewer = computed(() => isAdmin.value || (role.value === 'staff' && !!state.me?.citywide))
export const isCentre = computed(() => isAdmin.value || role.value === 'staff')

export async function loadSession(): Promise<boolean> {
  if (!session.token) return false
  const [me, grids, categories, departments] = await Promise.all([api.me(), api.grids(), api.categories(), api.departments()])
  Object.assign(state, { me, grids, categories, departments })
  return true
}

export function forget() {
  session.token = null
  Object.assign(state, { me: null, grids: [], categories: [], departments: [] })
}

export function gridName(code: string | null | undefined): string {
  if (!code) return '—'
  return state.grids.find((g) => g.code === code)?.name ?? code
}
